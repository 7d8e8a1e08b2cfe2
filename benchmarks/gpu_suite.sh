#!/usr/bin/env bash
# The GPU measurements of fine-tuning, in one command (for a lent H100/H200 whose time is short).
#
#   bash benchmarks/gpu_suite.sh OUT_DIR DATASET_DIR         # DATASET_DIR: a small `datagen synth` output
#   bash benchmarks/gpu_suite.sh OUT_DIR DATASET_DIR levers  # the second call: where the LoRA step's time goes
#
# 1. the machine: GPU, driver, versions of torch/transformers/peft, whether flash-attn and bitsandbytes exist;
# 2. train_throughput.py on the full-size random-weights preset: LoRA in bf16 (the issue's figure), then
#    full fine-tuning in bf16 autocast and the reference recipe's way (fewer steps: 64 micro-batches a step);
# 3. the product itself: `finetune --model phi3v-random --method lora` for a few steps on DATASET_DIR, which
#    prints the run summary (samples/s, tokens/s, peak memory, MFU) as a user sees it.
# Each step has its own time limit and writes its log and JSON under OUT_DIR; a failing step does not stop
# the next. `levers`: a profile of the LoRA step (top kernels by GPU time), then the levers one at a time
# (head on answer positions only; activation checkpointing with a larger micro-batch; full fine-tuning with
# checkpointing and micro-batch 2, which ran out of memory at 4 without it). PRESET=tiny runs the same on a
# CPU in about a minute (a check of the script, not a measurement). Figures: benchmarks/README.md.
set -u
out=${1:?usage: gpu_suite.sh OUT_DIR DATASET_DIR}
data=${2:?usage: gpu_suite.sh OUT_DIR DATASET_DIR}
preset=${PRESET:-phi3v-random}
py=${PYTHON:-python3}
run=${RUN_DIR:-/tmp/gpu-suite-run}  # the finetune RUN dir: weights stay out of OUT_DIR
export PYTHONUNBUFFERED=1 WANDB_MODE=disabled TOKENIZERS_PARALLELISM=false
mkdir -p "$out"
cd "$(dirname "$0")/.."

step() {  # step NAME SECONDS COMMAND...
    local name=$1 limit=$2; shift 2
    echo "=== $name (limit ${limit}s): $*"
    local t0=$SECONDS
    timeout "$limit" "$@" >"$out/$name.log" 2>&1
    local rc=$?
    tail -n 25 "$out/$name.log"
    echo "=== $name: rc $rc in $((SECONDS - t0)) s"
}

{
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1 || echo "no nvidia-smi"
    $py - <<'EOF'
import importlib.util, platform, torch
import transformers, peft, accelerate
print("python", platform.python_version(), "torch", torch.__version__, "cuda", torch.version.cuda,
      "transformers", transformers.__version__, "peft", peft.__version__, "accelerate", accelerate.__version__)
for name in ("flash_attn", "bitsandbytes", "liger_kernel"):
    print(name, "present" if importlib.util.find_spec(name) else "absent")
if torch.cuda.is_available():
    print("device", torch.cuda.get_device_name(0), round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1), "GiB")
EOF
} 2>&1 | tee "$out/machine.txt"

small=()
[ "$preset" = tiny ] && small=(--steps 2 --warmup 1)
if [ "${3:-}" = levers ]; then
    bench=($py -m benchmarks.train_throughput --preset "$preset")
    step profile 150 "${bench[@]}" --methods lora-bf16 --steps 5 --warmup 2 --profile 2 --json "$out/profile.json"
    step labels-only 100 "${bench[@]}" --methods lora-bf16 --labels-only-logits "${small[@]}" --json "$out/labels-only.json"
    step checkpointing-b8 120 "${bench[@]}" --methods lora-bf16 --gradient-checkpointing --batch-size 8 "${small[@]}" \
        --json "$out/checkpointing-b8.json"
    step full-checkpointing 130 "${bench[@]}" --methods full-bf16 --gradient-checkpointing --batch-size 2 --grad-accum 2 \
        "${small[@]}" --json "$out/full-checkpointing.json"
    rm -f "$out/machine.txt"  # printed above; the files that come back are few
    exit 0
fi
step lora-bf16 150 $py -m benchmarks.train_throughput --preset "$preset" --methods lora-bf16 "${small[@]}" \
    --json "$out/lora-bf16.json"
step full-bf16 150 $py -m benchmarks.train_throughput --preset "$preset" --methods full-bf16 "${small[@]}" \
    --json "$out/full-bf16.json"
step reference 120 $py -m benchmarks.train_throughput --preset "$preset" --methods reference --steps 2 --warmup 1 \
    --reference-accum 8 --json "$out/reference.json"
step finetune-lora 150 $py -m finetune.cli --data "$data" --out "$run" --model "$preset" --method lora \
    --max-steps 24 --batch-size 4 --eval-every 12 --max-val-examples 8 --sample-predictions 2 --no-wandb --overwrite
rm -rf "$run"
