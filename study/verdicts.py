"""Paired verdicts between a study's groups: is a group better than the reference group beyond seed noise?

Every cell answers the same test rows, and the groups share their seeds, so two levels pair:

- **Over seeds** (two or more seeds both groups ran): the difference of each seed's metric value
  (group − reference, the same seed), its mean, Student's t interval and the paired t-test
  (``scipy.stats.ttest_rel``). Holm's adjustment across the metrics of one comparison; a difference is
  "better"/"worse" (by the metric's direction) when the adjusted p is below alpha. This is the verdict:
  it asks whether the gap is larger than what another training seed gives.
- **Over rows, per seed**: the evaluation harness's paired comparison of the two cells of each seed
  (``evaluation.leaderboard.build_comparison``: paired bootstrap, McNemar for category accuracy, Holm),
  summarised as how many seeds say better / worse. With a single seed this is the only verdict there is, and
  the report says it speaks of test rows, not of seed noise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ALPHA = 0.05
OVER_SEEDS = "paired t over seeds"
OVER_ROWS = "paired bootstrap over test rows (one seed)"


def seed_differences(
    values: Sequence[float | None],
    reference: Sequence[float | None],
    higher_is_better: bool,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Per-seed differences (``values[i] − reference[i]``, same seed), their mean, t interval and paired t p.

    Pairs where either value is missing are left out. Fewer than two pairs, or no spread among the
    differences, gives no p-value (the t statistic is undefined).
    """
    from scipy import stats

    pairs = [
        (float(v), float(r)) for v, r in zip(values, reference, strict=True) if _finite(v) and _finite(r)
    ]
    diffs = np.array([v - r for v, r in pairs])
    out: dict[str, Any] = {"n": len(pairs), "differences": diffs.tolist(), "difference": None,
                           "ci95": None, "p_value": None}  # fmt: skip
    if not pairs:
        return out
    out["difference"] = float(diffs.mean())
    if len(pairs) >= 2 and not diffs.any():  # the same value in every seed: no difference at all
        out["ci95"], out["p_value"] = [0.0, 0.0], 1.0
        return out
    if len(pairs) < 2 or float(np.ptp(diffs)) == 0.0:  # one pair, or a constant gap: t is undefined
        return out
    test = stats.ttest_rel([v for v, _ in pairs], [r for _, r in pairs])
    half = stats.t.ppf(0.5 + confidence / 2, len(pairs) - 1) * diffs.std(ddof=1) / math.sqrt(len(pairs))
    out["ci95"] = [float(diffs.mean() - half), float(diffs.mean() + half)]
    out["p_value"] = float(test.pvalue)
    return out


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def compare_groups(
    groups: Sequence[Mapping[str, Any]],
    reference: str,
    metrics: Mapping[str, Mapping[str, Any]],
    row_verdicts: Mapping[tuple[str, int], Mapping[str, str]] | None = None,
    alpha: float = ALPHA,
) -> list[dict[str, Any]]:
    """Every group against ``reference`` (a group name), metric by metric.

    ``groups`` come from ``study.aggregate.group_cells`` (per metric, ``values`` in the order of ``seeds``);
    ``metrics`` maps each metric to its spec (``higher_is_better``); ``row_verdicts`` maps (group, seed) to
    the harness's per-metric verdicts of that seed's cell against the reference's cell of the same seed.
    """
    from evaluation import paired

    by_name = {g["group"]: g for g in groups}
    ref = by_name[reference]
    out = []
    for group in groups:
        if group["group"] == reference:
            continue
        common = [s for s in group["seeds"] if s in ref["seeds"]]
        rows = []
        for name, spec in metrics.items():
            mine = dict(zip(group["seeds"], group["metrics"][name]["values"], strict=True))
            theirs = dict(zip(ref["seeds"], ref["metrics"][name]["values"], strict=True))
            diff = seed_differences([mine[s] for s in common], [theirs[s] for s in common],
                                    spec["higher_is_better"])  # fmt: skip
            per_seed = [((row_verdicts or {}).get((group["group"], s)) or {}).get(name) for s in common]
            rows.append({"metric": name, **diff, "row_verdicts": per_seed})
        seeds_test = len(common) >= 2
        for row, adjusted in zip(rows, paired.holm([r["p_value"] for r in rows]), strict=True):
            spec = metrics[row["metric"]]
            if seeds_test:
                row["test"] = OVER_SEEDS
                row["p_holm"] = adjusted
                row["verdict"] = (
                    paired.verdict(row["difference"], adjusted, spec["higher_is_better"], alpha)
                    if row["difference"] is not None and adjusted is not None
                    else paired.NOT_COMPARABLE
                )
            else:  # one seed: the rows are all there is
                row["test"] = OVER_ROWS
                row["p_holm"] = None
                row["verdict"] = (row["row_verdicts"] or [None])[0] or paired.NOT_COMPARABLE
        out.append({"group": group["group"], "reference": reference, "seeds": common, "metrics": rows})
    return out


def row_verdicts(
    cells: Sequence[Mapping[str, Any]], reference: str, cell_dir: Path, alpha: float = ALPHA
) -> dict[tuple[str, int], dict[str, str]]:
    """The harness's paired verdicts of each cell against the reference group's cell of the same seed, on
    the test rows both answered (``predictions.jsonl`` of their REPORT dirs)."""
    from evaluation.leaderboard import System, build_comparison, score_answers

    by_seed = {c["seed"]: c for c in cells if c["group"] == reference}
    out: dict[tuple[str, int], dict[str, str]] = {}
    cache: dict[str, tuple[list[str], list[dict]] | None] = {}
    for cell in cells:
        ref = by_seed.get(cell["seed"])
        if cell["group"] == reference or ref is None:
            continue
        mine, theirs = (_answers(cell_dir / c["id"], cache) for c in (cell, ref))
        if mine is None or theirs is None or mine[1] != theirs[1]:
            continue  # not the same rows: no paired verdict
        golds = mine[1]
        comparison = build_comparison(
            [
                System("reference", score_answers(theirs[0], golds)),
                System("cell", score_answers(mine[0], golds)),
            ],
            reference="reference",
            alpha=alpha,
        )
        out[(cell["group"], cell["seed"])] = {
            m["metric"]: m["verdict"] for m in comparison["comparisons"][0]["metrics"]
        }
    return out


def _answers(cell: Path, cache: dict) -> tuple[list[str], list[dict]] | None:
    """The cell's model's answers (the first system of its REPORT dir) and the rows' gold fields."""
    from contracts.errors import UserError
    from evaluation.outputs import read_predictions
    from evaluation.scoring import system_names

    key = str(cell)
    if key not in cache:
        try:
            rows, _, _ = read_predictions(cell / "eval" / "predictions.jsonl")
        except UserError:
            cache[key] = None
        else:
            name = system_names(rows)[0]
            cache[key] = ([str(r["answers"].get(name) or "") for r in rows], [r["gold"] for r in rows])
    return cache[key]
