"""Speed of the paired statistics behind `evaluate compare`: goal ≤ 5 s for 5 systems × 3,040 rows × 1,000
resamples on 2 cores.

    python -m benchmarks.paired_speed                   # 5 systems, 3,040 rows, 1,000 resamples, 3 repeats
    python -m benchmarks.paired_speed --systems 3 --rows 304 --resamples 1000 --json out/paired_speed.json

The systems are synthetic answers to 3,040 synthetic gold rows of 35 categories (each system right on a
different share of categories, titles and prices, some fields unreadable), scored per item once. Timed is
``leaderboard.build_comparison``: every system's 17 metrics on the shared paired bootstrap resamples, their
intervals, each system's differences to the reference with p-values, McNemar's tests, Holm's correction,
the per-category tests. The threads numpy's BLAS may use are printed beside the figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from contracts.metrics import ItemScores, score_items
from contracts.task import ParsedAnswer
from evaluation.leaderboard import System, build_comparison

GOAL_S = 5.0
TITLES = ("Check Cashmere Scarf", "EKD Wool Cape", "Mini Frances Bag", "Cropped Nylon Quilted Jacket")


def synthetic_systems(n_systems: int, n_rows: int, seed: int = 0) -> list[System]:
    """``n_systems`` systems answering the same ``n_rows`` gold rows, each with its own error rates."""
    rng = np.random.default_rng(seed)
    categories = [f"CATEGORY {k}" for k in range(35)]
    golds = [{"title": TITLES[i % len(TITLES)] + f" {i % 97}", "category3_code": categories[i % 35],
              "full_price": float(rng.integers(50, 5000))} for i in range(n_rows)]  # fmt: skip
    systems = []
    for s in range(n_systems):
        skill = 0.5 + 0.4 * s / max(1, n_systems - 1)
        answers = []
        for g in golds:
            title = g["title"] if rng.random() < skill else TITLES[rng.integers(4)]
            category = g["category3_code"] if rng.random() < skill else categories[rng.integers(35)]
            price = g["full_price"] * rng.lognormal(0, 0.6 - 0.4 * skill)
            answers.append(ParsedAnswer(
                title=title if rng.random() < 0.95 else None,  # some fields unreadable
                category3_code=category,
                full_price=price if rng.random() < 0.97 else None,
            ))  # fmt: skip
        scores: ItemScores = score_items(answers, golds)
        systems.append(System(f"system-{s}", scores, "model" if s == 0 else "baseline"))
    return systems


def measure(n_systems: int, n_rows: int, n_resamples: int, repeats: int) -> dict:
    systems = synthetic_systems(n_systems, n_rows)
    times, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        comparison = build_comparison(systems, n_resamples=n_resamples, seed=0)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    best = min(times)
    return {
        "systems": n_systems,
        "rows": n_rows,
        "resamples": n_resamples,
        "seconds_best": best,
        "seconds_all": times,
        # CPU seconds of this process (all its threads): on a host shared with other work the wall clock
        # measures the others too, this does not
        "cpu_seconds_all": cpu,
        "within_goal": best <= GOAL_S,
        "verdicts": {c["system"]: c["summary"] for c in comparison["comparisons"]},
    }


def _threads() -> str:
    try:
        from threadpoolctl import threadpool_info

        return ", ".join(f"{i['internal_api']} {i['num_threads']}" for i in threadpool_info()) or "?"
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        return "?"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", type=int, default=5)
    parser.add_argument("--rows", type=int, default=3040)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    result = measure(args.systems, args.rows, args.resamples, args.repeats)
    result.update(cpus=os.cpu_count(), threads=_threads(), python=platform.python_version())
    print(f"paired statistics: {result['systems']} systems × {result['rows']} rows × {result['resamples']} "
          f"resamples on {result['cpus']} CPUs (BLAS: {result['threads']})")  # fmt: skip
    print(
        "  runs: "
        + ", ".join(f"{t:.2f} s" for t in result["seconds_all"])
        + " (CPU: "
        + ", ".join(f"{t:.2f} s" for t in result["cpu_seconds_all"])
        + ")"
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    result["load_average_1min"] = load
    print(f"  load average (1 min) at the end: {load:.1f}")
    verdict = "within" if result["within_goal"] else "OVER"
    print(f"  best: {result['seconds_best']:.2f} s ({verdict} the {GOAL_S:.0f} s goal); "
          f"CPU best {min(result['cpu_seconds_all']):.2f} s")  # fmt: skip
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
