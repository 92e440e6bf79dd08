# Turns what bench/gpu/device-checks.sh left in its output folder into the lines the README's GPU
# section and a closing note need: test counts, each pipeline report (seconds per phase, per layer,
# throughput and percent of the device's peak), the PyTorch baseline beside the Rose run of the same
# size, and the ratio between them. Reads only files; prints markdown.
#
#   python3 bench/gpu/summarize.py OUT_DIR
import glob, json, os, re, sys

out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/out"


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def test_counts(name):
    text = read(os.path.join(out, name))
    if text is None:
        return None
    counts = dict(re.findall(r"^\s*(total|failed|succeeded|skipped):\s*(\d+)", text, re.M))
    failed = re.findall(r"^failed (\S+)", text, re.M)
    return counts, failed


machine = read(os.path.join(out, "machine.txt")) or ""
for line in re.findall(r"^disk write: .*$", machine, re.M):
    print(f"- {line} (dd, 512 MiB, fdatasync)")

for name in ("gpu-tests.txt", "gpu-tests-simt.txt"):
    result = test_counts(name)
    if result is None:
        continue
    counts, failed = result
    print(f"- {name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + (f"; failed: {', '.join(failed)}" if failed else ""))

rose_by_layers = {}
for path in sorted(glob.glob(os.path.join(out, "reports", "*.json"))):
    report = json.load(open(path))
    layers = len({m["layer"] for m in report["matrices"]})
    seconds = report["seconds"]
    total = seconds["total"]
    label = os.path.basename(path)[:-5]
    rose_by_layers.setdefault(layers, []).append((label, total))
    phases = ", ".join(f"{k} {v:.2f}" for k, v in seconds.items() if v >= 0.005 and k != "total")
    print(f"- {label}: {total:.1f} s for {layers} layers ({total / layers:.2f} s per layer); phases (s): {phases}")
    # Random weights give no matrix the uneven block losses that make ROSE reorder; a real model's do.
    print(f"  - reordered by ROSE: {report.get('reordered_matrices', 0)} of {len(report['matrices'])} matrices")
    memory = {k: v for k, v in (report.get("memory") or {}).items() if v is not None}
    if memory:
        print("  - memory: " + ", ".join(f"{k.removesuffix('_gib')} {v:.2f}" + (" GiB" if k.endswith("_gib") else "")
                                        if isinstance(v, float) else f"{k} {v}" for k, v in memory.items()))
    tflops = report.get("throughput_tflops") or {}
    gbps = report.get("throughput_gbps") or {}
    peak = report.get("percent_of_peak") or {}
    rates = [f"{k} {v:.3g} TFLOP/s" + (f" ({peak[k]:.0f}% of peak)" if k in peak else "") for k, v in tflops.items()]
    rates += [f"{k} {v:.3g} GB/s" + (f" ({peak[k]:.0f}% of peak)" if k in peak else "") for k, v in gbps.items()]
    if rates:
        print(f"  - throughput: {'; '.join(rates)}")
    if report.get("device"):
        print(f"  - device: {json.dumps(report['device'])}")

for path in sorted(glob.glob(os.path.join(out, "torch-baseline-*.json"))):
    base = json.load(open(path))
    layers, total = base["layers"], base["seconds_total"]
    phases = ", ".join(f"{k} {v:.2f}" for k, v in base["seconds"].items())
    print(f"- PyTorch official loop ({os.path.basename(path)}): {total:.1f} s for {layers} layers "
          f"({total / layers:.2f} s per layer); phases (s): {phases}")
    for label, rose_total in rose_by_layers.get(layers, []):
        print(f"  - {label}: {total / rose_total:.1f}x faster than the PyTorch loop on the same {layers} layers")

for name, title in (("fidelity.txt", "Rose against the official loop on the same windows"),
                    ("fidelity-noise.txt", "the official loop against itself, Hessians summed in double (its noise floor)")):
    fidelity = read(os.path.join(out, name))
    if fidelity:
        lines = fidelity.strip().splitlines() or ["(empty)"]
        if re.match(r"\d+ matrices:", lines[-1]):
            print(f"- {title}: {lines[-1]}")
            for line in lines[:-1]:
                print(f"  - {line}")
        else:
            print(f"- {title} did not finish: {lines[-1]}")

# Nsight Compute on the tensor-core attention (step 6 without nsys): the figures that say what bounds it.
ncu = read(os.path.join(out, "ncu-attention.txt"))
if ncu is not None:
    keys = ("Duration", "Compute (SM) Throughput", "Memory Throughput", "Registers Per Thread", "Achieved Occupancy",
            "Theoretical Occupancy", "Block Limit Registers", "Issue Slots Busy", "Warp Cycles Per Issued Instruction",
            "Executed Ipc Active", "L2 Hit Rate", "Dynamic Shared Memory Per Block", "Static Shared Memory Per Block")
    found = [" ".join(line.split()) for line in ncu.splitlines() if line.strip().startswith(keys)]
    print("- Nsight Compute, tensor-core attention: " + ("; ".join(found) if found else f"no metrics ({ncu.strip()[-300:]})"))

# Kernel benchmarks (steps 6 and 9): BenchmarkDotNet's tables, a line per benchmark method, device and shape.
def benchmark_rows(text):
    header = None
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "Method" and "Mean" in cells:
            header = cells
        elif header and line.startswith("| ") and not set(cells[0]) <= set("-:") and len(cells) == len(header):
            yield dict(zip(header, cells)), header[1:header.index("Mean")]


for name, title in (("bench-forward-kernels.txt", "forward kernels"), ("bench-pruning-kernels.txt", "pruning kernels")):
    text = read(os.path.join(out, name))
    if text is None:
        continue
    groups = {}
    for row, params in benchmark_rows(text):
        rate = next((f"{row[u]} {u}" for u in ("TFLOP/s", "GB/s") if row.get(u, "-") not in ("-", "")), "")
        label = " ".join(row[p] for p in params if p not in ("Device", "Shape"))
        key = f"{row['Method']} ({row.get('Device', '?')}, {row.get('Shape', '?')})"
        groups.setdefault(key, []).append(" ".join(x for x in (label, row["Mean"]) if x) + (f" ({rate})" if rate else ""))
    for key, entries in groups.items():
        print(f"- {title}, {key}: {'; '.join(entries)}")
    if not groups:
        print(f"- {name} holds no benchmark table")
