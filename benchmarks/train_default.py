"""The embedded default end to end: synthesize 3,040 rows, `finetune` with its defaults, score the test split.

    python -m benchmarks.train_default                      # the full run (targets: <= 15 min on 2 CPU cores)
    python -m benchmarks.train_default --rows 40 --max-steps 3   # a quick look (what CI runs, via a test)
    python -m benchmarks.train_default --max-steps 16 --encoder-warmup 0   # the cost of validation answers

Prints the machine load, the wall time of each stage and the learning goals with their targets: category
accuracy >= 0.90, mean title token_sort_ratio >= 85, median absolute percentage price error <= 15%, >= 99% of
answers parsed, on the test split, as `evaluate` measures them; plus the oracle's ceiling on the same rows.
It also prints what the validation answers (the recipe's --eval-rows, scored at each validation) cost: their
seconds (``answer_s`` of RUN/metrics.jsonl) against the optimizer steps' seconds and finetune's wall time
(target: at most 10% of the training time).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from contracts import run_layout as names
from contracts.dataset.reader import read_info
from datagen.config import SynthConfig
from datagen.synth.run import synthesize
from evaluation.config import EvalConfig
from evaluation.run import evaluate
from finetune import train
from finetune.config import DEFAULT_RECIPE
from finetune.settings import from_recipe
from finetune.tracking import read_metrics

# metric key of evaluate's metrics.json -> (label, target, higher is better, scale for printing)
GOALS: dict[str, tuple[str, float, bool, float]] = {
    "category_accuracy": ("category accuracy", 0.90, True, 1.0),
    "title_token_sort_ratio_mean": ("title token_sort_ratio, mean", 85.0, True, 1.0),
    "price_median_ape": ("price median APE (%)", 15.0, False, 100.0),
    "parse_rate": ("answers parsed", 0.99, True, 1.0),
}


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def ensure_dataset(data: Path, rows: int, seed: int) -> float:
    """Synthesize ``data`` unless it already holds this rows/seed; return the seconds spent."""
    if (data / "dataset_info.json").is_file():
        info = read_info(data)
        if info.get("args", {}).get("rows") == rows and info.get("seed") == seed:
            return 0.0
    start = time.perf_counter()
    synthesize(SynthConfig(out=str(data), rows=rows, seed=seed, overwrite=True, quiet=True))
    return time.perf_counter() - start


def run_benchmark(
    work: Path, rows: int = 3040, seed: int = 0, train_changes: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Synthesize (if needed), train with the defaults (plus ``train_changes``), evaluate on test."""
    work = Path(work)
    data, run, report = work / "data", work / "run", work / "eval"
    figures: dict[str, Any] = {"load_before": _load()}
    figures["synth_s"] = ensure_dataset(data, rows, seed)
    cfg = from_recipe(DEFAULT_RECIPE, data=str(data), out=str(run), overwrite=True, **(train_changes or {}))
    result = train(cfg)
    figures["train"] = {
        "wall_s": result.wall_s,
        "train_s": result.train_s,
        "steps": result.steps,
        "epochs": result.epochs,
        "samples_per_s": result.samples_per_s,
        "tokens_per_s": result.tokens_per_s,
        "best_val_loss": result.best_val_loss,
        "final_val_loss": result.final_val_loss,
        "cpu_threads": result.cpu_threads,
        "encoder_warmup_s": result.encoder_warmup_s,
    }
    validations = [r for r in read_metrics(run) if r.get("split") == "validation"]
    figures["answers"] = {
        "validations": len(validations),
        "rows": cfg.eval_rows,
        "seconds": sum(r.get("answer_s") or 0.0 for r in validations),
        "last": {k: validations[-1].get(k) for k in GOALS} if validations else {},
    }
    figures["load_after_train"] = _load()
    start = time.perf_counter()
    doc = evaluate(
        EvalConfig(
            model=str(run),
            data=str(data),
            split="test",
            report=str(report / "report.html"),
            baselines="oracle",
            bootstrap=200,
            wandb="off",
            quiet=True,
        )
    ).document
    figures["eval_s"] = time.perf_counter() - start
    figures["generation_s"] = doc.get("speed", {}).get("seconds")
    figures["metrics"] = {k: doc["metrics"][k]["value"] for k in GOALS}
    oracle = doc.get("baselines", {}).get("oracle", {}).get("metrics", {})
    figures["oracle"] = {k: oracle[k]["value"] for k in GOALS if k in oracle}
    figures["load_after_eval"] = _load()
    figures["run_dir"] = str(run)
    return figures


def _answers_line(figures: dict[str, Any]) -> str:
    a, t = figures.get("answers") or {}, figures["train"]
    if not a.get("rows"):
        return "validation answers: off (--eval-rows 0)"
    seconds, rest = a["seconds"], t["wall_s"] - a["seconds"]
    # an epoch's step time, from this run's seconds per step (a short run measures it without a whole epoch)
    per_epoch = seconds / max(1, a["validations"]) * t["epochs"] / max(1e-9, t["train_s"])
    return (
        f"validation answers: {a['rows']} rows x {a['validations']} validations, {seconds:.1f} s in all "
        f"({seconds / max(1, a['validations']):.1f} s each) = {seconds / max(1e-9, t['train_s']):.1%} of the "
        f"optimizer steps' {t['train_s']:.0f} s, {seconds / max(1e-9, rest):.1%} of the rest of finetune's "
        f"wall time; one validation's answers = {per_epoch:.1%} of one epoch's optimizer steps "
        f"({t['steps'] / max(1e-9, t['epochs']):.0f} steps, validated once an epoch; target <= 10%)"
    )


def format_figures(figures: dict[str, Any]) -> str:
    t = figures["train"]
    lines = [
        f"machine: {figures['load_before']} before, {figures['load_after_train']} after training",
        f"synth {figures['synth_s']:.0f} s; finetune {t['wall_s']:.0f} s wall ({t['wall_s'] / 60:.1f} min, "
        f"target <= 15 min), {t['steps']} steps, {t['epochs']:g} epochs, {t['samples_per_s']:.1f} samples/s, "
        f"{t.get('cpu_threads') or '-'} CPU threads"
        + (f" (of which encoder warm-up {t['encoder_warmup_s']:.0f} s)" if t.get("encoder_warmup_s") else ""),
        f"evaluate {figures['eval_s']:.0f} s "
        f"(generation {figures['generation_s'] or 0:.0f} s, target <= 60 s)",
        f"validation loss: best {t['best_val_loss']}, final {t['final_val_loss']}",
        _answers_line(figures),
        f"{'goal':<32}{'model':>10}{'target':>10}{'oracle':>10}  met",
    ]
    for key, (label, target, higher, scale) in GOALS.items():
        value = figures["metrics"][key]
        met = value is not None and (value >= target if higher else value * scale <= target)
        oracle = figures["oracle"].get(key)
        shown = "n/a" if value is None else f"{value * scale:.3f}"
        lines.append(
            f"{label:<32}{shown:>10}{target:>10g}"
            f"{'' if oracle is None else f'{oracle * scale:.3f}':>10}  {'yes' if met else 'NO'}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="out/bench-train-default", help="where data, run and report go")
    parser.add_argument("--rows", type=int, default=3040)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-steps", type=int, default=0, help="cap the run (0: the default schedule)")
    parser.add_argument("--epochs", type=float, default=0, help="epochs of the run (0: the recipe's)")
    parser.add_argument("--eval-rows", type=int, default=-1, help="rows answered (-1: recipe)")
    parser.add_argument("--encoder-warmup", type=int, default=-1, help="warm-up epochs (-1: recipe)")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    changes: dict[str, Any] = {"max_steps": args.max_steps} if args.max_steps else {}
    if args.epochs:
        changes["epochs"] = args.epochs
    if args.encoder_warmup >= 0:
        changes["encoder_warmup"] = args.encoder_warmup
    if args.eval_rows >= 0:
        changes["eval_rows"] = args.eval_rows
    figures = run_benchmark(Path(args.work), rows=args.rows, seed=args.seed, train_changes=changes)
    print(format_figures(figures))
    print(f"RUN dir: {figures['run_dir']} ({names.METRICS_FILE} has the curves)")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
