# Compares two prunings of the same checkpoint from the same calibration windows, matrix by matrix:
# Rose's output folder or the official loop's (bench/gpu/torch_baseline.py, layerN.pt), either side.
# Per linear: how many weights are zero in one and not the other, the relative difference of the
# weights, and the ratio of the two OBS losses (from rose-report.json or the loop's losses.json).
#
#   python3 bench/gpu/compare_official.py A_DIR B_DIR LAYERS [A_NAME B_NAME]
import json, os, sys
import torch
from safetensors_reader import index_tensors, read_tensor

a_dir, b_dir, layers = sys.argv[1], sys.argv[2], int(sys.argv[3])
a_name, b_name = (sys.argv[4], sys.argv[5]) if len(sys.argv) > 5 else ("rose", "official")
part = {"q_proj": "self_attn", "k_proj": "self_attn", "v_proj": "self_attn", "o_proj": "self_attn",
        "gate_proj": "mlp", "up_proj": "mlp", "down_proj": "mlp"}


class Pruned:
    """One side's pruned layers and losses, from whichever tool wrote the folder."""

    def __init__(self, folder):
        self.folder, self.official = folder, os.path.exists(os.path.join(folder, "layer0.pt"))
        self.losses = {}
        if self.official:
            self.where = None
            path = os.path.join(folder, "losses.json")
            self.losses = json.load(open(path)) if os.path.exists(path) else {}
        else:
            self.where = index_tensors(folder)
            path = os.path.join(folder, "rose-report.json")
            for m in json.load(open(path))["matrices"] if os.path.exists(path) else []:
                self.losses[f"{m['layer']}.{m['kind'].split('.')[-1]}"] = m["loss"]
        self.layer, self.cached = None, None

    def weight(self, l, name):
        if not self.official:
            return read_tensor(self.where, f"model.layers.{l}.{part[name]}.{name}.weight").float()
        if self.layer != l:
            self.layer, self.cached = l, torch.load(os.path.join(self.folder, f"layer{l}.pt"))
        return self.cached[name].float()


a, b = Pruned(a_dir), Pruned(b_dir)
agreements = []
for l in range(layers):
    for name in part:
        wa, wb = a.weight(l, name), b.weight(l, name)
        same_mask = ((wa == 0) == (wb == 0)).float().mean().item()
        relative = ((wa - wb).norm() / wb.norm()).item()
        key = f"{l}.{name}"
        losses = (f", loss {a_name} / {b_name} = {a.losses[key] / b.losses[key]:.4f}"
                  if key in a.losses and key in b.losses and b.losses[key] > 0 else "")
        agreements.append(same_mask)
        print(f"layer {l} {name:9s} {tuple(wa.shape)}: masks agree on {same_mask:.4%}, "
              f"sparsity {a_name} {(wa == 0).float().mean().item():.4f} {b_name} {(wb == 0).float().mean().item():.4f}, "
              f"|W_{a_name} - W_{b_name}| / |W_{b_name}| = {relative:.4f}{losses}")
print(f"{len(agreements)} matrices: masks agree on {min(agreements):.4%} at least, {sum(agreements) / len(agreements):.4%} on average")
