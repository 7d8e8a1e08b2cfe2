"""End-to-end speed of `evaluate`: the tiny default on a 304-row test split, goal ≤ 60 s on CPU.

    python -m benchmarks.eval_speed                          # synthesizes 3,040 rows (64 px) into a temp dir
    python -m benchmarks.eval_speed --data out/data --model runs/r1 --threads 0,1 --json out/eval_speed.json

Each setting runs the whole arrow, ``evaluation.evaluate(EvalConfig(...))``: reading the split, loading the
model, batched greedy generation, the four baselines (image features, sklearn probe, oracle), scoring with
1,000 bootstrap resamples, and writing report.html + metrics.json + predictions.jsonl. W&B is off (it adds
the time of a local service start). An untrained model never says ``<|end|>``, so it decodes the full token
budget on every row: the slowest case a trained model can meet. ``cpu s`` (CPU time of all the process's
threads) beside the wall time tells how much a busy machine stretched the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from evaluation.config import EvalConfig
from evaluation.run import evaluate

GOAL_S = 60.0
COLUMNS = [
    ("rows", "rows", "{}"),
    ("batch", "batch_size", "{}"),
    ("threads", "threads", "{}"),
    ("total s", "total_s", "{:.1f}"),
    ("cpu s", "cpu_s", "{:.1f}"),
    ("generate s", "generate_s", "{:.1f}"),
    ("samples/s", "samples_per_s", "{:.2f}"),
    ("new tok", "new_tokens", "{}"),
    ("baselines s", "baselines_s", "{:.1f}"),
    ("rest s", "rest_s", "{:.1f}"),
    (f"<= {GOAL_S:.0f} s", "within_goal", "{}"),
]


def _dataset(args: argparse.Namespace, tmp: Path) -> str:
    if args.data:
        return args.data
    from datagen.config import SynthConfig
    from datagen.synth.run import synthesize

    out = tmp / "data"
    start = time.perf_counter()
    synthesize(SynthConfig(rows=args.rows, out=str(out), image_size=args.image_size, seed=0, quiet=True))
    print(f"synthesized {args.rows} rows at {args.image_size} px in {time.perf_counter() - start:.1f} s")
    return str(out)


def measure(cfg: EvalConfig) -> dict:
    """Run ``evaluate(cfg)`` once; wall and CPU seconds, and the speed record it wrote."""
    start, cpu_start = time.perf_counter(), time.process_time()
    doc = evaluate(cfg).document
    total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    speed = doc["speed"]
    generate = speed.get("seconds") or 0.0
    baselines = sum(s["speed"]["wall_s"] for s in doc["systems"][1:])  # shared image features counted once
    return {
        "model": cfg.model,
        "rows": doc["n"],
        "batch_size": cfg.batch_size,
        "threads": speed.get("threads"),
        "total_s": total,
        "cpu_s": cpu,
        "generate_s": generate,
        "samples_per_s": speed.get("samples_per_s"),
        "new_tokens": speed.get("new_tokens"),
        "max_new_tokens": speed.get("max_new_tokens"),
        "baselines_s": baselines,
        "rest_s": total - generate - baselines,
        "within_goal": "yes" if total <= GOAL_S else "NO",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="DATASET dir (default: synthesize one)")
    parser.add_argument("--rows", type=int, default=3040, help="rows to synthesize (test split about 10%%)")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--split", default="test")
    default_batch = EvalConfig.__dataclass_fields__["batch_size"].default
    parser.add_argument("--batch-sizes", default=str(default_batch), help="comma list (default: evaluate's)")
    parser.add_argument("--threads", default="0", help="comma list of CPU threads (0 = evaluate's auto)")
    parser.add_argument("--baselines", default="all")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory(prefix="eval-speed-") as tmp_name:
        tmp = Path(tmp_name)
        data = _dataset(args, tmp)
        for threads in [int(t) for t in args.threads.split(",")]:
            for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
                cfg = EvalConfig(
                    model=args.model,
                    data=data,
                    split=args.split,
                    batch_size=batch_size,
                    threads=threads,
                    baselines=args.baselines,
                    report=str(tmp / f"r-{threads}-{batch_size}"),
                    wandb="off",
                    quiet=True,
                )
                results.append(measure(cfg))
    where = platform.processor() or platform.machine()
    print(f"\nevaluate --model {args.model} on {where}, {os.cpu_count()} CPUs")
    print(" ".join(f"{name:>12}" for name, _, _ in COLUMNS))
    for r in results:
        print(" ".join(f"{fmt.format(r[key]):>12}" for _, key, fmt in COLUMNS))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"goal_s": GOAL_S, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
