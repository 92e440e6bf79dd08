# The official pruning loop, re-written in plain PyTorch for timing side by side with Rose on the
# same GPU and checkpoint (the official repositories need transformers and datasets, which the GPU
# machine's Python need not have; this needs torch alone). It does what the official SparseGPT/ROSE LLaMA code does, in the same
# order and precision: the decoder layers run in the model's dtype one calibration window at a
# time with a hook per linear (each of the seven keeps its own fp32 Hessian and ROSE statistic,
# add_batch as the official code scales them), then per linear the ROSE ordering, damping,
# cholesky -> cholesky_inverse -> cholesky(upper), the blocked OBS sweep, then the pruned layer runs
# again for the next layer's inputs, and the pruned weights are written out (save_pretrained's I/O).
# Calibration tokens are random (seeded): timing does not depend on them; ROSE_TORCH_TOKENS gives
# fixed ones instead (bench/gpu/compare_official.py compares the pruned weights with Rose's), and the
# pruned layers go to ROSE_TORCH_OUT (default /tmp/torch-baseline-out) as layerN.pt, with each matrix's
# OBS loss (the official sum of (w - q)^2 / d^2 / 2) in losses.json. ROSE_TORCH_HESSIAN_DTYPE=float64
# accumulates the Hessians and ROSE statistics in double (rounded to fp32 before pruning, as the official
# code prunes): a second run of the same loop whose sums differ only in rounding, the official
# algorithm's own numerical noise floor for the comparison with Rose.
#
#   python3 bench/gpu/torch_baseline.py MODEL_DIR LAYERS NSAMPLES SEQLEN SPARSITY OUT.json
# ROSE_TORCH_DEVICE=cpu runs it on the CPU (to check the script where there is no GPU; torch < 2.0,
# e.g. Debian's, lacks scaled_dot_product_attention, so the same causal softmax is written out there).
import json, math, os, sys, time
import torch
import torch.nn.functional as F
from safetensors_reader import DTYPES, index_tensors, read_tensor

model_dir, n_layers, nsamples, seqlen, sparsity, out_json = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                                                             int(sys.argv[4]), float(sys.argv[5]), sys.argv[6])
dev = torch.device(os.environ.get("ROSE_TORCH_DEVICE", "cuda"))
stats_dtype = getattr(torch, os.environ.get("ROSE_TORCH_HESSIAN_DTYPE", "float32"))
torch.backends.cuda.matmul.allow_tf32 = False
clock = {"load": 0.0, "statistics": 0.0, "prune": 0.0, "forward": 0.0, "write": 0.0}
start = time.time()


def sync():
    if dev.type == "cuda":
        torch.cuda.synchronize()


def lap(phase, t0):
    sync()
    clock[phase] += time.time() - t0
    return time.time()


cfg = json.load(open(os.path.join(model_dir, "config.json")))
hidden, inter = cfg["hidden_size"], cfg["intermediate_size"]
heads, kv_heads = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
hd = hidden // heads
eps, theta = cfg["rms_norm_eps"], cfg.get("rope_theta", 10000.0)
t = time.time()
where = index_tensors(model_dir)
dtype = DTYPES[where["model.embed_tokens.weight"][2]["dtype"]]
embed = read_tensor(where, "model.embed_tokens.weight").to(dev)
t = lap("load", t)

# ---- calibration inputs in the model dtype, as the official catcher stores them ------------------
if os.environ.get("ROSE_TORCH_TOKENS"):  # a JSON list of windows, e.g. the ones Rose calibrates on
    tokens = torch.tensor(json.load(open(os.environ["ROSE_TORCH_TOKENS"])), dtype=torch.long)[:nsamples, :seqlen].to(dev)
else:
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, cfg["vocab_size"], (nsamples, seqlen), generator=gen).to(dev)
inps = embed[tokens]                      # nsamples x seqlen x hidden, model dtype
outs = torch.empty_like(inps)
del embed
inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, device=dev, dtype=torch.float32) / hd))
freqs = torch.outer(torch.arange(seqlen, device=dev, dtype=torch.float32), inv_freq)
emb = torch.cat((freqs, freqs), dim=-1)
cos, sin = emb.cos().to(dtype)[None, None], emb.sin().to(dtype)[None, None]


def rms_norm(x, w):
    v = x.float().pow(2).mean(-1, keepdim=True)
    return w * (x.float() * torch.rsqrt(v + eps)).to(x.dtype)


def rotate_half(x):
    return torch.cat((-x[..., x.shape[-1] // 2:], x[..., : x.shape[-1] // 2]), dim=-1)


def layer_forward(x, w, hook=None):
    r = x
    h = rms_norm(x, w["input_layernorm"])
    if hook: hook(("q_proj", "k_proj", "v_proj"), h)
    q = (h @ w["q_proj"].T).view(1, seqlen, heads, hd).transpose(1, 2)
    k = (h @ w["k_proj"].T).view(1, seqlen, kv_heads, hd).transpose(1, 2)
    v = (h @ w["v_proj"].T).view(1, seqlen, kv_heads, hd).transpose(1, 2)
    q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
    if kv_heads != heads:
        k = k.repeat_interleave(heads // kv_heads, dim=1)
        v = v.repeat_interleave(heads // kv_heads, dim=1)
    o = attention(q, k, v).transpose(1, 2).reshape(1, seqlen, hidden)
    if hook: hook(("o_proj",), o)
    x = r + o @ w["o_proj"].T
    r = x
    h = rms_norm(x, w["post_attention_layernorm"])
    if hook: hook(("gate_proj", "up_proj"), h)
    a = F.silu(h @ w["gate_proj"].T) * (h @ w["up_proj"].T)
    if hook: hook(("down_proj",), a)
    return r + a @ w["down_proj"].T


def attention(q, k, v):
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    scores = (q.float() @ k.float().transpose(-1, -2)) / math.sqrt(q.shape[-1])
    causal = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool, device=q.device).triu(1)
    return (scores.masked_fill(causal, float("-inf")).softmax(-1) @ v.float()).to(q.dtype)


class Stats:  # the official add_batch, one calibration window (tmp = 1) per call
    def __init__(self, cols):
        self.H = torch.zeros((cols, cols), device=dev, dtype=stats_dtype)
        self.scaler_row = torch.zeros(cols, device=dev, dtype=stats_dtype)
        self.n = 0

    def add(self, inp):
        inp = inp.reshape(-1, inp.shape[-1]).t().to(stats_dtype)
        self.H *= self.n / (self.n + 1)
        self.scaler_row *= self.n / (self.n + 1)
        self.n += 1
        inp = math.sqrt(2 / self.n) * inp
        self.scaler_row += torch.norm(inp, p=2, dim=1) ** 2 / self.n
        self.H += inp.matmul(inp.t())


def rose_prune(W, st, blocksize=128, percdamp=0.01):
    W = W.float().clone()
    H = st.H.float()
    scaler_row = st.scaler_row.float()
    cols = W.shape[1]
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    # ROSE ordering: block losses of |W|·sqrt(s) below each block's own threshold.
    score = W.abs() * torch.sqrt(scaler_row.reshape(1, -1))
    col_loss = torch.zeros(cols, device=dev)
    block_loss = []
    for b0 in range(0, cols, blocksize):
        sb = score[:, b0:b0 + blocksize]
        thresh = torch.sort(sb.flatten())[0][int(sb.numel() * sparsity)]
        lb = sb * (sb <= thresh)
        col_loss[b0:b0 + blocksize] = lb.sum(0)
        block_loss.append(lb.sum())
    block_loss = torch.stack(block_loss)
    r = ((block_loss.max() - block_loss.min()) / block_loss.max()).item()
    perm = None
    if r > 0.5:
        order = torch.argsort(block_loss, descending=True, stable=True)
        perm = torch.cat([b * blocksize + torch.argsort(col_loss[b * blocksize:(b + 1) * blocksize], descending=True, stable=True)
                          for b in order.tolist()])
        W, H = W[:, perm], H[perm][:, perm]
    diag = torch.arange(cols, device=dev)
    H[diag, diag] += percdamp * torch.mean(torch.diag(H))
    H = torch.linalg.cholesky(H)
    H = torch.cholesky_inverse(H)
    Hinv = torch.linalg.cholesky(H, upper=True)
    loss = torch.zeros((), device=dev)
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        count = i2 - i1
        W1 = W[:, i1:i2].clone()
        Q1, Err1 = torch.zeros_like(W1), torch.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]
        tmp = W1 ** 2 / (torch.diag(Hinv1).reshape((1, -1))) ** 2
        thresh = torch.sort(tmp.flatten())[0][int(tmp.numel() * sparsity)]
        mask1 = tmp <= thresh
        for i in range(count):
            w = W1[:, i]
            d = Hinv1[i, i]
            q = w.clone()
            q[mask1[:, i]] = 0
            Q1[:, i] = q
            err1 = (w - q) / d
            loss += torch.sum(err1 ** 2) / 2
            W1[:, i:] -= err1.unsqueeze(1).matmul(Hinv1[i, i:].unsqueeze(0))
            Err1[:, i] = err1
        W[:, i1:i2] = Q1
        W[:, i2:] -= Err1.matmul(Hinv[i1:i2, i2:])
    if perm is not None:
        W = W[:, torch.argsort(perm)]
    return W.to(dtype), loss


LINEARS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
out_dir = os.environ.get("ROSE_TORCH_OUT", "/tmp/torch-baseline-out")
os.makedirs(out_dir, exist_ok=True)
losses = {}
for l in range(n_layers):
    t = time.time()
    prefix = f"model.layers.{l}."
    w = {}
    for name in LINEARS:
        part = "self_attn." if name in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp."
        w[name] = read_tensor(where, prefix + part + name + ".weight").to(dev)
    for norm in ("input_layernorm", "post_attention_layernorm"):
        w[norm] = read_tensor(where, prefix + norm + ".weight").to(dev)
    t = lap("load", t)

    stats = {name: Stats(w[name].shape[1]) for name in LINEARS}

    def hook(names, inp):
        for name in names:
            stats[name].add(inp)

    for j in range(nsamples):
        outs[j:j + 1] = layer_forward(inps[j:j + 1], w, hook)
    t = lap("statistics", t)
    for name in LINEARS:
        w[name], losses[f"{l}.{name}"] = rose_prune(w[name], stats[name])
    del stats
    t = lap("prune", t)
    for j in range(nsamples):
        outs[j:j + 1] = layer_forward(inps[j:j + 1], w)
    t = lap("forward", t)
    torch.save({name: w[name].cpu() for name in LINEARS}, os.path.join(out_dir, f"layer{l}.pt"))
    t = lap("write", t)
    inps, outs = outs, inps
    print(f"layer {l + 1}/{n_layers} done at {time.time() - start:.1f} s", flush=True)

sync()
json.dump({k: v.item() for k, v in losses.items()}, open(os.path.join(out_dir, "losses.json"), "w"), indent=1)
result = {"layers": n_layers, "nsamples": nsamples, "seqlen": seqlen, "sparsity": sparsity,
          "hessian_dtype": str(stats_dtype).removeprefix("torch."), "seconds_total": time.time() - start, "seconds": clock,
          "device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu"}
json.dump(result, open(out_json, "w"), indent=2)
print(json.dumps(result))
