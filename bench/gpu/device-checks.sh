#!/usr/bin/env bash
# The prepared GPU check (run on the GPU machine from the repository root, after packing here with
#   ../shared/tools/gpu-pack.sh tests/Rose.Tests && rm -rf .gpu/Rose.Tests/{CodeCoverage,x86,arm64,alpine,macos,x64,ubuntu}
# and carrying .gpu): every GPU test, prune-layer cuda vs cpu on a 4096×4096 case, an interrupted and
# resumed device prune compared byte for byte, and a LLaMA-2-7B-shaped ROSE 70% prune (ROSE_LAYERS
# layers, default 2). Results go to $OUT (or /tmp/out).
set -u
cd "$(dirname "$0")/../.."
source .gpu/env.sh
export ROSE_SAMPLES=$PWD/samples
O=${OUT:-/tmp/out}; mkdir -p "$O"
cli="dotnet .gpu/Rose.Tests/Rose.Cli.dll"

timeout 150 dotnet .gpu/Rose.Tests/Rose.Tests.dll --filter "TestCategory=Gpu" --output detailed > "$O/gpu-tests.txt" 2>&1
echo "gpu tests rc=$?"; grep -E "^failed|total:|failed:|succeeded:" "$O/gpu-tests.txt" | head -20

python3 bench/gpu/make_case.py 4096 4096 8 2048 /tmp/case4096.safetensors
for dev in cuda cpu; do
  /usr/bin/time -f "$dev wall %e s" timeout 120 $cli prune-layer --in /tmp/case4096.safetensors --out "/tmp/out-$dev.safetensors" \
    --method rose --sparsity 0.7 --device $dev --json 2>&1 | tail -2
done

# Interrupt a device prune after its second layer, resume it, compare with an uninterrupted run.
args=(prune --method rose --sparsity 0.5 --nsamples 32 --seqlen 256 --device cuda)
timeout 60 $cli "${args[@]}" --out /tmp/g/ref > /dev/null 2>&1
python3 - "$cli" "${args[@]}" <<'PY'
import signal, subprocess, sys, time
cmd = sys.argv[1].split() + sys.argv[2:] + ["--out", "/tmp/g/out"]
p = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
for line in p.stderr:
    if "layer 3/" in line:
        p.send_signal(signal.SIGINT); break
print("interrupted run rc", p.wait())
PY
timeout 60 $cli "${args[@]}" --out /tmp/g/out --resume > /dev/null 2>&1; echo "resume rc=$?"
cmp /tmp/g/out/model.safetensors /tmp/g/ref/model.safetensors && echo "resumed output identical"

layers=${ROSE_LAYERS:-2}
$cli synth --arch llama2-7b --dtype bf16 --layers "$layers" --out /tmp/l7b > /dev/null 2>&1
/usr/bin/time -f "7B-shaped prune ($layers layers) wall %e s" timeout 400 $cli prune --model /tmp/l7b --method rose --sparsity 0.7 \
  --calib samples/data/tinystories-calib.txt --calib-sampling sequential --nsamples 128 --seqlen 2048 \
  --device cuda --out /tmp/l7b-rose --force --json 2>&1 | tail -2
cp /tmp/l7b-rose/rose-report.json "$O/" 2>/dev/null
