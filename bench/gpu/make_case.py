# Writes a prune-layer case: weight [rows, cols] F32 and inputs [n, tokens, cols] BF16 (safetensors).
import json, struct, sys, torch
rows, cols, n, tokens, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
g = torch.Generator().manual_seed(0)
w = (torch.randn(rows, cols, generator=g) * 0.02).float()
# Columns of very different scales, as real LLM activations have (outlier features).
scale = torch.exp(torch.randn(cols, generator=g) * 1.5)
x = (torch.randn(n, tokens, cols, generator=g) * scale).to(torch.bfloat16)
wb = w.numpy().tobytes(); xb = x.view(torch.int16).numpy().tobytes()
header = {"__metadata__": {"format": "pt"},
          "weight": {"dtype": "F32", "shape": [rows, cols], "data_offsets": [0, len(wb)]},
          "inputs": {"dtype": "BF16", "shape": [n, tokens, cols], "data_offsets": [len(wb), len(wb) + len(xb)]}}
h = json.dumps(header).encode(); h += b" " * ((8 - len(h) % 8) % 8)
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(h))); f.write(h); f.write(wb); f.write(xb)
