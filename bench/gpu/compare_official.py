# Compares the layers Rose pruned with the ones the official loop (bench/gpu/torch_baseline.py) pruned
# from the same checkpoint and the same calibration windows: per linear, how many weights are zero in
# one and not the other, and the relative difference of the kept weights.
#
#   python3 bench/gpu/compare_official.py ROSE_OUT_DIR TORCH_OUT_DIR LAYERS
import sys
import torch
from safetensors_reader import index_tensors, read_tensor

rose_dir, torch_dir, layers = sys.argv[1], sys.argv[2], int(sys.argv[3])
where = index_tensors(rose_dir)
part = {"q_proj": "self_attn", "k_proj": "self_attn", "v_proj": "self_attn", "o_proj": "self_attn",
        "gate_proj": "mlp", "up_proj": "mlp", "down_proj": "mlp"}
agreements = []
for l in range(layers):
    official = torch.load(f"{torch_dir}/layer{l}.pt")
    for name, module in part.items():
        ours = read_tensor(where, f"model.layers.{l}.{module}.{name}.weight").float()
        theirs = official[name].float()
        same_mask = ((ours == 0) == (theirs == 0)).float().mean().item()
        relative = ((ours - theirs).norm() / theirs.norm()).item()
        agreements.append(same_mask)
        print(f"layer {l} {name:9s} {tuple(ours.shape)}: masks agree on {same_mask:.4%}, "
              f"sparsity rose {(ours == 0).float().mean().item():.4f} official {(theirs == 0).float().mean().item():.4f}, "
              f"|W_rose - W_official| / |W_official| = {relative:.4f}")
print(f"{len(agreements)} matrices: masks agree on {min(agreements):.4%} at least, {sum(agreements) / len(agreements):.4%} on average")
