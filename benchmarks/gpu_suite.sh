#!/usr/bin/env bash
# The GPU sweep of fine-tuning and evaluation throughput, in one call (for a lent H100/H200 whose time is
# short: under 8 minutes, every step under its own time limit, a failing step does not stop the next).
#
#   bash benchmarks/gpu_suite.sh OUT_DIR
#
# 0. the machine (GPU, driver, clocks, versions); wheels in .whl/ (gitignored: `pip download liger-kernel
#    bitsandbytes --no-deps -d .whl` here, then carry .whl) are installed first, offline;
# 1. the baseline: train_throughput, LoRA bf16 at 16 crops on phi3v-random, the product's own path
#    (finetune.model.build_model, its loss on the answer rows, --kernels auto);
# 2. the goals' figures: the `finetune` command itself (recipe phi3v-lora on phi3v-random, 96 synthetic rows)
#    at the recipe's 8 examples per step with the micro-batch and checkpointing --fit-memory chooses (its
#    "memory fit:" line says which and why); evaluation.predict on images end to end at 4 crops; full
#    fine-tuning with checkpointing; QLoRA's peak memory (needs bitsandbytes);
# 3. the levers, one at a time against the baseline: --kernels off, --lora-fp32-inputs (peft's fp32 round
#    trip that finetune switches off), --compile, activation checkpointing at micro-batch 8, `finetune` at a
#    fixed micro-batch 4, `evaluate --compile`'s static KV cache with compiled decode steps (one batch size,
#    so it compiles once: compare with generate-c4's batch 16), generation at 16 crops;
# 4. the baseline again, so the noise between two identical runs is known.
# The budget skips the last steps on a slow machine, so the most wanted come first.
# Compare levers by their step time within this one call; figures of other calls or machines are not
# comparable. Every step writes OUT_DIR/NAME.json (and .log); PRESET=tiny checks the script on a CPU.
set -u
out=${1:?usage: gpu_suite.sh OUT_DIR}
preset=${PRESET:-phi3v-random}
py=${PYTHON:-python3}
budget=${BUDGET_S:-450}  # no new step starts after this many seconds (the last baseline excepted)
work=${WORK_DIR:-/tmp/gpu-suite}
export PYTHONUNBUFFERED=1 WANDB_MODE=disabled TOKENIZERS_PARALLELISM=false
mkdir -p "$out" "$work"
cd "$(dirname "$0")/.."

if ls .whl/*.whl >/dev/null 2>&1; then
    $py -m pip install -q --no-index --no-deps .whl/*.whl 2>&1 | tail -n 3
fi

step() {  # step NAME SECONDS COMMAND...
    local name=$1 limit=$2; shift 2
    if [ "$name" != baseline-b ] && [ "$SECONDS" -gt "$budget" ]; then
        echo "=== $name: skipped, the sweep's ${budget}s are spent"
        return
    fi
    echo "=== $name (limit ${limit}s): $*"
    local t0=$SECONDS
    timeout "$limit" "$@" >"$out/$name.log" 2>&1
    local rc=$?
    tail -n 12 "$out/$name.log"
    echo "=== $name: rc $rc in $((SECONDS - t0)) s"
}

$py - <<'EOF' 2>&1 | tee "$out/machine.txt"
import importlib.util, json
from benchmarks.harness import versions
print(json.dumps(versions(), indent=1))
for name in ("flash_attn", "bitsandbytes", "liger_kernel"):
    print(name, "present" if importlib.util.find_spec(name) else "absent")
EOF

small=(--steps 5 --warmup 2)
[ "$preset" = tiny ] && small=(--steps 2 --warmup 1)
bench=($py -m benchmarks.train_throughput --preset "$preset" --batch-size 4 "${small[@]}")
step baseline-a 110 "${bench[@]}" --methods lora-bf16 --json "$out/baseline-a.json"
$py -m datagen.cli synth --rows 96 --image-size 336 --out "$work/data" --overwrite --quiet
step finetune-lora-fit 150 $py -m finetune.cli --recipe phi3v-lora --model "$preset" --data "$work/data" \
    --out "$work/run-fit" --max-steps 8 --eval-every 8 --max-val-examples 8 \
    --sample-predictions 0 --no-wandb --overwrite
step generate-c4 90 $py -m benchmarks.generate_throughput --preset "$preset" --num-crops 4 --end-to-end \
    --batch-sizes 16,32 --json "$out/generate-c4.json"
step full-bf16 130 $py -m benchmarks.train_throughput --preset "$preset" --methods full-bf16 \
    --gradient-checkpointing --batch-size 2 --grad-accum 2 "${small[@]}" --json "$out/full-bf16.json"
step qlora 110 "${bench[@]}" --methods qlora --json "$out/qlora.json"

step kernels-off 100 "${bench[@]}" --methods lora-bf16 --kernels off --json "$out/kernels-off.json"
step lora-fp32-inputs 100 "${bench[@]}" --methods lora-bf16 --lora-fp32-inputs --json "$out/lora-fp32-inputs.json"
step compile 160 "${bench[@]}" --methods lora-bf16 --compile --warmup 4 --json "$out/compile.json"
step checkpointing-b8 110 $py -m benchmarks.train_throughput --preset "$preset" --methods lora-bf16 \
    --gradient-checkpointing --batch-size 8 "${small[@]}" --json "$out/checkpointing-b8.json"
step finetune-lora 150 $py -m finetune.cli --recipe phi3v-lora --model "$preset" --data "$work/data" \
    --out "$work/run" --max-steps 8 --batch-size 4 --no-fit-memory --eval-every 8 --max-val-examples 8 \
    --sample-predictions 0 --no-wandb --overwrite
step generate-c4-compiled 150 $py -m benchmarks.generate_throughput --preset "$preset" --num-crops 4 \
    --end-to-end --static-cache --compile --batch-sizes 16 --batches 2 --json "$out/generate-c4-compiled.json"
step generate-c16 90 $py -m benchmarks.generate_throughput --preset "$preset" --end-to-end \
    --batch-sizes 16 --json "$out/generate-c16.json"
step baseline-b 110 "${bench[@]}" --methods lora-bf16 --json "$out/baseline-b.json"
rm -rf "$work"
echo "sweep done in ${SECONDS}s"
