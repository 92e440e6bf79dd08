#!/usr/bin/env bash
# The prepared GPU check: one command on the GPU machine, from the repository root, after packing
# here with bench/gpu/pack.sh and carrying .gpu. Steps run in the numeric order below, whatever
# order they are named in, each under its own timeout; everything worth keeping goes to $OUT
# (or /tmp/out), the summary to stdout:
#   1. every GPU test (16-bit attention on tensor cores where the probe agrees, the default), then the
#      forward tests again on the fp32 attention kernel;
#   2. an interrupted and resumed device prune compared byte for byte with an uninterrupted one;
#   3. prune-layer CUDA vs CPU on a 4096 x 4096 case; a weight's round trip to the pruner, host route
#      against resident (WeightRoundTripFull);
#   4. side by side on 4 LLaMA-2-7B-shaped layers: the pipeline benchmark with the fp32 attention
#      kernel and with the tensor-core one, and the official loop re-written in PyTorch;
#   5. the pipeline benchmark on the whole 32-layer LLaMA-2-7B shape (the issue's < 90 s target),
#      with tensor-core attention when its tests passed (the fp32 kernel when they failed, the probing
#      default without step 1); the checkpoint is synthesized in the background while step 1 runs;
#   6. the forward's kernels one by one at the 7B and 8B shapes (ForwardKernelFull: both attention kernels,
#      RMSNorm, RoPE, SwiGLU, residual add; TFLOP/s or GB/s), and an nsys profile of a 2-layer prune, when
#      nsys is there, else (the machine of 2026-11-30) Nsight Compute's report on one tensor-core attention launch;
#   7. Rose against the official loop in PyTorch on 2 7B-shaped layers, the same windows: how many
#      weights each prunes that the other keeps and their OBS losses (bench/gpu/compare_official.py),
#      beside the official loop against itself with its Hessians summed in double (its noise floor);
#   8. 2 LLaMA-2-70B-shaped layers (28672-wide Hessian and factor), ROSE 70%, 128 x 2048: memory and speed
#      at the largest shape the tool is for;
#   9. the pruning primitives one by one at the 7B shapes on CUDA (fold, factor, OBS, permutation, scores,
#      masks, one matrix's whole ROSE prune): the README's kernel table for the code as it is now.
# Arguments pick steps (default: all). One device call may run at most 600 s, and a session has 15
# device minutes including the machine's start, so run what matters most first. The commands' wall times
# on 2026-11-30 (H200; the machine's start added about 30 s to the first call, the rest ran back to back):
#   bench/gpu/device-checks.sh 1 5     (86 s: tests 37 s, fp32-attention forward tests 12 s, the 32-layer
#                                       benchmark 35 s; the synthesis runs beside the tests)
#   bench/gpu/device-checks.sh 4 2 3   (98 s: resume 8 s, prune-layer and round trip 26 s, 4 layers both
#                                       attention kernels 20 s, the PyTorch loop 44 s)
#   bench/gpu/device-checks.sh 6 7 8   (86 s without nsys: forward kernels 34 s, fidelity 37 s, 70B layers 15 s;
#                                       the ncu profile of step 6 is new since and adds perhaps a minute)
#   bench/gpu/device-checks.sh 9       (117 s: the pruning primitives)
# Give the timeout some room (timeout_s 300 for each of these) and hand the machine back after the last.
# bench/gpu/rehearse.sh runs this script here on the CPU emulator of CUDA, with small shapes, so a
# mistake in it shows before it costs device time; these variables are how it shrinks the work:
arch=${ROSE_CHECK_ARCH:-llama2-7b} big=${ROSE_CHECK_BIG_ARCH:-llama2-70b}
ns=${ROSE_CHECK_NSAMPLES:-128} sl=${ROSE_CHECK_SEQLEN:-2048} scale=${ROSE_CHECK_TIME_SCALE:-1}
case_shape=${ROSE_CHECK_CASE:-4096 4096 8 2048} T=${ROSE_CHECK_TMP:-/tmp} kernel_set=${ROSE_CHECK_KERNEL_SET:-full}
set -u
steps=" ${*:-1 2 3 4 5 6 7 8} "; want() { [[ "$steps" == *" $1 "* ]]; }
cd "$(dirname "$0")/../.."
source .gpu/env.sh
[ -d $T/Rose.Bench ] || tar -C $T -xJf .gpu/Rose.Bench.tar.xz
export ROSE_SAMPLES=$PWD/samples
O=${OUT:-$T/out}; mkdir -p "$O"
cli="dotnet .gpu/Rose.Tests/Rose.Cli.dll"
bench="dotnet $T/Rose.Bench/Rose.Bench.dll"
tmo() { local s=$1; shift; timeout $(( s * scale )) "$@"; }
t0=$(date +%s); stamp() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
( nvidia-smi; which nsys ncu; nproc; free -g; df -h $T
  # The pipeline forces each written layer to disk (0.4 GB per 7B layer) while the next computes: how fast
  # this disk takes it says whether writing can keep up (before the 13 GB synthesis below competes for it).
  echo "disk write: $(dd if=/dev/zero of=$T/rose-disk-probe bs=16M count=32 conv=fdatasync 2>&1 | tail -1)"; rm -f $T/rose-disk-probe
  python3 -c "import torch, importlib.util as u; print('torch', torch.__version__, 'transformers', u.find_spec('transformers') is not None)" ) > "$O/machine.txt" 2>&1

# The 32-layer checkpoint (13 GB) is written by the CPUs while the GPU tests run.
synth_pid=
if want 5 && [ ! -f $T/l7b/tokenizer.json ]; then
  ( tmo 240 $cli synth --arch $arch --dtype bf16 --out $T/l7b > "$O/synth.txt" 2>&1; echo "synth rc=$?" >> "$O/synth.txt" ) &
  synth_pid=$!
fi

# 1. Tests.
if want 1; then
tmo 180 dotnet .gpu/Rose.Tests/Rose.Tests.dll --filter "TestCategory=Gpu" --output detailed > "$O/gpu-tests.txt" 2>&1
stamp "gpu tests rc=$?"; grep -E "^\s*(failed|total|succeeded|skipped):|^failed " "$O/gpu-tests.txt" | head -40
# The first pass ran 16-bit forwards on tensor cores wherever the probe agreed; this one on the fp32 kernel.
ROSE_ATTENTION=simt tmo 45 dotnet .gpu/Rose.Tests/Rose.Tests.dll --filter "FullyQualifiedName~CudaForward|FullyQualifiedName~DevicePipeline" \
  > "$O/gpu-tests-simt.txt" 2>&1
stamp "forward tests with ROSE_ATTENTION=simt rc=$?"; grep -E "^\s*(failed|total|succeeded):|^failed " "$O/gpu-tests-simt.txt" | head -20
mma_rc=0; grep -qE "^failed .*(TensorCoreAttention|TheProbe|TheDefaultFollows)" "$O/gpu-tests.txt" && mma_rc=1
grep -A3 "TheProbeFindsTheKernelsApart" "$O/gpu-tests.txt" | grep -o "AttentionProbe {.*}" | head -4
echo "$mma_rc" > "$O/mma-rc"
fi

if want 2; then
# 2. Interrupt a device prune after its second layer, resume it, compare with an uninterrupted run.
rm -rf $T/g
args=(prune --method rose --sparsity 0.5 --nsamples $(( ns / 4 )) --seqlen $(( sl / 8 )) --device cuda)
tmo 60 $cli "${args[@]}" --out $T/g/ref > "$O/resume-ref.txt" 2>&1
tmo 60 python3 - "$T/g/out" "$cli" "${args[@]}" <<'PY'
import signal, subprocess, sys
cmd = sys.argv[2].split() + sys.argv[3:] + ["--out", sys.argv[1]]
p = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
for line in p.stderr:
    if "layer 3/" in line:
        p.send_signal(signal.SIGINT); break
print("interrupted run rc", p.wait())
PY
tmo 60 $cli "${args[@]}" --out $T/g/out --resume > "$O/resume.txt" 2>&1
stamp "resume rc=$?"
cmp $T/g/out/model.safetensors $T/g/ref/model.safetensors && stamp "resumed output identical"
fi

if want 3; then
# 3. One layer, CUDA vs CPU.
tmo 60 python3 bench/gpu/make_case.py $case_shape $T/case4096.safetensors
for dev in cuda cpu; do
  # timeout, not tmo: /usr/bin/time runs programs, not shell functions.
  /usr/bin/time -f "prune-layer $dev wall %e s" timeout $(( 60 * scale )) $cli prune-layer --in $T/case4096.safetensors --out "$T/out-$dev.safetensors" \
    --method rose --sparsity 0.7 --device $dev --json > "$O/prune-layer-$dev.json" 2> "$O/prune-layer-$dev.txt"
  tail -1 "$O/prune-layer-$dev.txt"
done
# A bf16 weight's trip to the pruner and back, by the route before and the resident one, side by side.
tmo 90 $bench --filter '*WeightRoundTripFull*' --anyCategories full --inProcess > "$O/bench-roundtrip.txt" 2>&1
stamp "weight round trip rc=$?"; grep -E "^\| RoundTrip" "$O/bench-roundtrip.txt" | head -8
fi

if want 4; then
# 4. Pipeline benchmark on 4 layers, both attention kernels, and the official loop in PyTorch on the
#    same checkpoint and GPU (bench/gpu/torch_baseline.py), side by side.
tmo 60 $cli synth --arch $arch --dtype bf16 --layers 4 --out $T/l7b4 > /dev/null 2>&1
ROSE_BENCH_NSAMPLES=$ns ROSE_BENCH_SEQLEN=$sl ROSE_BENCH_MODEL=$T/l7b4 ROSE_BENCH_ATTENTION=simt,mma ROSE_BENCH_REPORT="$O/reports" tmo 150 $bench \
  --filter '*Llama7BPipeline*' --anyCategories full --inProcess > "$O/bench-4layers.txt" 2>&1
stamp "bench 4 layers rc=$?"; grep -E "llama2-7b rose|\| +cuda" "$O/bench-4layers.txt" | head -10
tmo 200 python3 bench/gpu/torch_baseline.py $T/l7b4 4 $ns $sl 0.7 "$O/torch-baseline-4layers.json" > "$O/torch-baseline.txt" 2>&1
stamp "torch baseline 4 layers rc=$?"; tail -2 "$O/torch-baseline.txt" | cut -c1-400
fi

# Tensor-core attention for the 7B runs when its tests passed (step 1, this call or an earlier one), the
# fp32 kernel when they failed, and without a step 1 the default: tensor cores where the probe agrees.
attn=auto; case "$(cat "$O/mma-rc" 2>/dev/null || cat $T/mma-rc 2>/dev/null)" in 0) attn=mma;; 1) attn=simt;; esac
[ -f "$O/mma-rc" ] && cp "$O/mma-rc" $T/mma-rc
if want 5; then
# 5. The whole 7B shape.
[ -n "$synth_pid" ] && wait "$synth_pid"; stamp "synth 32 layers: $(tail -1 "$O/synth.txt" 2>/dev/null)"
ROSE_BENCH_NSAMPLES=$ns ROSE_BENCH_SEQLEN=$sl ROSE_BENCH_MODEL=$T/l7b ROSE_BENCH_ATTENTION=$attn ROSE_BENCH_REPORT="$O/reports" tmo 380 $bench \
  --filter '*Llama7BPipeline*' --anyCategories full --inProcess > "$O/bench-32layers.txt" 2>&1
stamp "bench 32 layers ($attn attention) rc=$?"; grep -E "llama2-7b rose|\| +cuda" "$O/bench-32layers.txt" | head -10
# Seconds at each written layer: how far a run stopped by the timeout got, and at what rate.
grep -E "^\[[0-9.]+ s\] layer [0-9]+/[0-9]+ written" "$O/bench-32layers.txt" | sed -n '1p;2p;$p'
fi

# 6. Where the time goes: each forward kernel on its own, then the whole prune under nsys.
if want 6; then
  ROSE_BENCH_DEVICES=cuda tmo 120 $bench --filter "*ForwardKernel${kernel_set^}*" --anyCategories $kernel_set --inProcess \
    > "$O/bench-forward-kernels.txt" 2>&1
  stamp "forward kernels rc=$?"; grep -E "^\| +Run" "$O/bench-forward-kernels.txt" | head -12
fi
if want 6 && command -v nsys > /dev/null; then
  $cli synth --arch $arch --dtype bf16 --layers 2 --out $T/l7b2 > /dev/null 2>&1
  ROSE_ATTENTION=$attn tmo 90 nsys profile -o $T/prof -t cuda,cublas --force-overwrite true $cli prune --model $T/l7b2 \
    --method rose --sparsity 0.7 --calib samples/data/tinystories-calib.txt --calib-sampling sequential --nsamples $ns --seqlen $sl \
    --device cuda --out $T/l7b2-rose --force > "$O/nsys-run.txt" 2>&1
  tmo 60 nsys stats --report cuda_gpu_kern_sum --report cuda_gpu_mem_time_sum --format csv -o "$O/nsys" $T/prof.nsys-rep > /dev/null 2>&1
  stamp "nsys done"; head -25 "$O"/nsys*kern_sum*.csv 2>/dev/null | cut -c1-200
fi
# Without nsys: Nsight Compute on one launch of the tensor-core attention, the forward's largest cost (1.1 ms a
# 7B window on 2026-11-30, 3% of the tensor peak, where a model of its loads and MMAs expects several times
# less): throughput against the peaks, occupancy, warp stalls. The third launch is a batch of 16 real windows
# whether or not the probe (two small launches) ran first: 2 layers make three real launches.
if want 6 && ! command -v nsys > /dev/null && command -v ncu > /dev/null; then
  [ -f $T/l7b2/tokenizer.json ] || $cli synth --arch $arch --dtype bf16 --layers 2 --out $T/l7b2 > /dev/null 2>&1
  ROSE_ATTENTION=mma tmo 150 ncu --kernel-name regex:rose_attention_mma --launch-skip 2 --launch-count 1 --set full \
    -o $T/ncu-attention -f $cli prune --model $T/l7b2 --method rose --sparsity 0.7 --calib samples/data/tinystories-calib.txt \
    --calib-sampling sequential --nsamples 16 --seqlen $sl --device cuda --out $T/l7b2-ncu --force > "$O/ncu-run.txt" 2>&1
  stamp "ncu rc=$?"; tail -3 "$O/ncu-run.txt" | cut -c1-300
  tmo 60 ncu --import $T/ncu-attention.ncu-rep --page details > "$O/ncu-attention.txt" 2>&1
fi
# 7. Rose against the official loop on 2 LLaMA-2-7B-shaped layers: the same checkpoint and the same
#    32 × 2048 windows (bench/gpu/byte_windows.py), the pruned weights compared matrix by matrix.
if want 7; then
  [ -f $T/l7b2/tokenizer.json ] || $cli synth --arch $arch --dtype bf16 --layers 2 --out $T/l7b2 > /dev/null 2>&1
  python3 bench/gpu/byte_windows.py $T/fid-calib.txt $T/fid-windows.json $(( ns / 4 )) $sl
  ROSE_ATTENTION=$attn tmo 90 $cli prune --model $T/l7b2 --method rose --sparsity 0.7 --calib $T/fid-calib.txt \
    --calib-sampling sequential --nsamples $(( ns / 4 )) --seqlen $sl --device cuda --out $T/fid-rose --force > "$O/fidelity-rose.txt" 2>&1
  ROSE_TORCH_TOKENS=$T/fid-windows.json ROSE_TORCH_OUT=$T/fid-torch tmo 120 python3 bench/gpu/torch_baseline.py $T/l7b2 2 $(( ns / 4 )) $sl 0.7 \
    "$O/fidelity-torch.json" > "$O/fidelity-torch.txt" 2>&1
  tmo 60 python3 bench/gpu/compare_official.py $T/fid-rose $T/fid-torch 2 > "$O/fidelity.txt" 2>&1
  stamp "fidelity: $(tail -1 "$O/fidelity.txt")"
  # The official loop against itself with its sums in double: how far rounding alone moves its masks.
  ROSE_TORCH_HESSIAN_DTYPE=float64 ROSE_TORCH_TOKENS=$T/fid-windows.json ROSE_TORCH_OUT=$T/fid-torch64 tmo 120 python3 bench/gpu/torch_baseline.py \
    $T/l7b2 2 $(( ns / 4 )) $sl 0.7 "$O/fidelity-torch64.json" > "$O/fidelity-torch64.txt" 2>&1
  tmo 60 python3 bench/gpu/compare_official.py $T/fid-torch64 $T/fid-torch 2 official64 official > "$O/fidelity-noise.txt" 2>&1
  stamp "noise floor: $(tail -1 "$O/fidelity-noise.txt")"
fi
# 8. Two 70B-shaped layers (4.5 GB checkpoint): the widest Hessians (28672) and the memory estimate.
if want 8; then
  tmo 60 $cli synth --arch $big --dtype bf16 --layers 2 --out $T/l70b2 > /dev/null 2>&1
  ROSE_ATTENTION=$attn tmo 150 $cli prune --model $T/l70b2 --method rose --sparsity 0.7 --calib samples/data/tinystories-calib.txt \
    --calib-sampling sequential --nsamples $ns --seqlen $sl --device cuda --out $T/l70b2-rose --force > "$O/70b-2layers.txt" 2>&1
  rc=$?; mkdir -p "$O/reports"; cp $T/l70b2-rose/rose-report.json "$O/reports/70b-2layers-cuda-$attn.json" 2>/dev/null
  stamp "70B 2 layers rc=$rc"; grep -iE "memory|GiB|error" "$O/70b-2layers.txt" | head -5
fi
# 9. The pruning primitives one by one.
if want 9; then
  filters=(); for b in HessianFold Cholesky ObsSweep Permutation Scores OneShotMask RosePrune; do filters+=("*$b${kernel_set^}*"); done
  ROSE_BENCH_DEVICES=cuda tmo 240 $bench --filter "${filters[@]}" --anyCategories $kernel_set --inProcess > "$O/bench-pruning-kernels.txt" 2>&1
  stamp "pruning kernels rc=$?"; grep -cE "^\| " "$O/bench-pruning-kernels.txt"
fi
python3 bench/gpu/summarize.py "$O" > "$O/summary.md" 2>&1; cat "$O/summary.md"
stamp "all done"
