"""The leaderboard and the paired comparisons of systems that answered the same rows, as plain dicts.

``build_comparison`` takes each system's per-item scores (``metrics.ItemScores``, in the same row order) and
returns what ``comparison.json`` holds and the pages draw:

- ``leaderboard``: every system with every metric and its 95% bootstrap interval, ranked by one headline
  metric (``rank_by``, category accuracy by default; ties broken by the next headline metrics). A ceiling
  (the oracle: the generator's own answers, what synthetic data allows) is shown first, unranked and never
  marked best; the best value among the other systems is marked per metric.
- ``comparisons``: each other system against the reference (the first system unless named), per metric the
  paired difference, interval, p-values (raw and Holm-adjusted) and verdict, McNemar's test of category
  correctness, and the same per category (see ``evaluation.paired`` for the methods).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from contracts.metrics import HEADLINE, METRICS, METRICS_BY_NAME, ItemScores, MetricSpec, score_items
from contracts.task import parse_answer
from evaluation import paired

SCHEMA_VERSION = 1
CEILING_NAMES = frozenset({"oracle"})  # baselines that bound what is reachable rather than compete
ROLES = ("model", "baseline", "ceiling")
DEFAULT_RANK_BY = "category_accuracy"


@dataclass
class System:
    """One system's answers to the shared rows, scored per item."""

    name: str
    scores: ItemScores
    role: str = "model"  # one of ROLES
    source: dict = field(default_factory=dict)  # where it came from (shown in the inputs table)


def role_of(name: str | None, kind: str | None) -> str:
    """``ceiling`` for the oracle baseline, ``baseline`` for the others, ``model`` for anything else."""
    if kind == "baseline":
        return "ceiling" if name in CEILING_NAMES else "baseline"
    return "model"


def score_answers(answers: Sequence[str], golds: Sequence[Mapping]) -> ItemScores:
    """Parse raw answers and score them per item against their gold fields."""
    return score_items([parse_answer(a) for a in answers], golds)


def systems_from_rows(rows: Sequence[Mapping], recorded: Sequence[Mapping]) -> list[System]:
    """The systems whose answers ``rows`` hold (``row["answers"][name]``; an unanswered row reads as an
    empty answer), described by ``recorded`` (``evaluation.outputs.recorded_systems``: name, kind, spec),
    in that order."""
    golds = [row["gold"] for row in rows]
    systems = []
    for info in recorded:
        name = str(info["name"])
        answers = [str((row.get("answers") or {}).get(name) or "") for row in rows]
        kind = info.get("kind")
        systems.append(System(name, score_answers(answers, golds), role_of(info.get("spec") or name, kind),
                              {"kind": kind or "model", "spec": info.get("spec")}))  # fmt: skip
    return systems


def build_comparison(
    systems: Sequence[System],
    *,
    reference: str | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    alpha: float = paired.ALPHA,
    rank_by: str = DEFAULT_RANK_BY,
    specs: Sequence[MetricSpec] = METRICS,
) -> dict:
    """The leaderboard and every system's paired comparison with the reference (plain, JSON-ready data).

    Raises:
        ValueError: no systems, names not unique, an unknown ``reference`` or ``rank_by``, or systems that
            did not answer the same number of rows.
    """
    if not systems:
        raise ValueError("no systems to compare")
    names = [s.name for s in systems]
    if len(set(names)) != len(names):
        raise ValueError(f"system names must be unique, got {names}")
    if reference is not None and reference not in names:
        raise ValueError(f"no system named {reference!r} (systems: {', '.join(names)})")
    if rank_by not in METRICS_BY_NAME or rank_by not in {s.name for s in specs}:
        raise ValueError(f"cannot rank by {rank_by!r}: not one of the metrics compared")
    ref = names.index(reference) if reference is not None else 0
    dists = paired.distributions([s.scores for s in systems], specs, n_resamples=n_resamples, seed=seed)
    settings = {"n_resamples": n_resamples, "seed": seed, "confidence": confidence, "alpha": alpha}
    comparisons = {
        i: _compare(systems[i], systems[ref], dists[i], dists[ref], specs, **settings)
        for i in range(len(systems))
        if i != ref
    }
    verdicts = {(i, m["metric"]): m["verdict"] for i, c in comparisons.items() for m in c["metrics"]}
    best = _best(systems, dists, specs)
    ranking = _ranking(systems, dists, rank_by)
    leaderboard = []
    for rank, i in ranking:
        metrics = {}
        for spec in specs:
            value = dists[i].point[spec.name]
            ci = None
            if value is not None:
                ci = paired.percentile_interval(dists[i].resampled[spec.name], confidence)
            metrics[spec.name] = {"value": value, "ci95": ci, "best": i in best[spec.name],
                                  "verdict": verdicts.get((i, spec.name))}  # fmt: skip
        leaderboard.append({"rank": rank, "name": systems[i].name, "role": systems[i].role,
                            "reference": i == ref, "metrics": metrics})  # fmt: skip
    return {
        "schema_version": SCHEMA_VERSION,
        "n": systems[0].scores.n,
        "reference": systems[ref].name,
        "rank_by": rank_by,
        "alpha": alpha,
        "bootstrap": {
            "n_resamples": n_resamples,
            "seed": seed,
            "confidence": confidence,
            "method": "percentile",
        },  # fmt: skip
        "method": dict(paired.METHOD),
        "metrics": [
            {
                "name": s.name,
                "label": s.label,
                "group": s.group,
                "higher_is_better": s.higher_is_better,
                "fmt": s.fmt,
                "description": s.description,
            }
            for s in specs
        ],  # fmt: skip
        "leaderboard": leaderboard,
        "comparisons": [comparisons[i] for _, i in ranking if i != ref],
        "notes": _resolution_notes(comparisons.values(), n_resamples, alpha),
    }


def _resolution_notes(comparisons, n_resamples: int, alpha: float) -> list[str]:
    """Say so when too few resamples make a bootstrap verdict impossible: the smallest bootstrap p is
    1 / (1 + B), and Holm multiplies the smallest of m p-values by m."""
    tested = max((sum(m["test"] == "paired bootstrap" and m["p_value"] is not None for m in c["metrics"])
                  for c in comparisons), default=0)  # fmt: skip
    if tested and tested / (1 + n_resamples) >= alpha:
        return [f"with {n_resamples} bootstrap resamples no metric but category accuracy can be significant "
                f"after Holm's correction across {tested} metrics (the smallest p is 1/(1 + {n_resamples})): "
                f"use at least {int(tested / alpha)} resamples"]  # fmt: skip
    return []


def _compare(
    system: System,
    reference: System,
    dist: paired.Distribution,
    ref_dist: paired.Distribution,
    specs: Sequence[MetricSpec],
    *,
    n_resamples: int,
    seed: int,
    confidence: float,
    alpha: float,
) -> dict:
    """One system against the reference: per metric, overall McNemar, per category."""
    mcnemar = paired.mcnemar_exact(_correct(system.scores), _correct(reference.scores))
    rows = []
    for spec in specs:
        value, ref_value = dist.point[spec.name], ref_dist.point[spec.name]
        diff = paired.paired_difference(
            value, ref_value, dist.resampled[spec.name], ref_dist.resampled[spec.name], confidence
        )
        exact = spec.name == "category_accuracy" and diff["difference"] is not None
        rows.append({
            "metric": spec.name,
            "value": value,
            "reference_value": ref_value,
            "difference": diff["difference"],
            "ci95": diff["ci95"],
            "p_value": mcnemar["p_value"] if exact else diff["p_value"],
            "test": "McNemar exact" if exact else "paired bootstrap",
            "p_bootstrap": diff["p_value"],
        })  # fmt: skip
    for row, spec, adjusted in zip(rows, specs, paired.holm([r["p_value"] for r in rows]), strict=True):
        row["p_holm"] = adjusted
        row["verdict"] = paired.verdict(row["difference"], adjusted, spec.higher_is_better, alpha)
    return {
        "system": system.name,
        "role": system.role,
        "reference": reference.name,
        "metrics": rows,
        "mcnemar": mcnemar,
        "per_category": paired.category_differences(
            system.scores,
            reference.scores,
            n_resamples=n_resamples,
            seed=seed,
            confidence=confidence,
            alpha=alpha,
        ),  # fmt: skip
        "summary": {
            verdict: [r["metric"] for r in rows if r["verdict"] == verdict] for verdict in paired.VERDICTS
        },
    }


def _correct(scores: ItemScores):
    return scores.columns["category_correct"] == 1.0


def _best(systems: Sequence[System], dists: Sequence[paired.Distribution], specs) -> dict[str, set[int]]:
    """Per metric, the systems (not the ceiling) with the best value; none when fewer than two compete."""
    out: dict[str, set[int]] = {}
    for spec in specs:
        values = {
            i: d.point[spec.name]
            for i, (s, d) in enumerate(zip(systems, dists, strict=True))
            if s.role != "ceiling" and d.point[spec.name] is not None
        }
        if len(values) < 2:
            out[spec.name] = set()
            continue
        top = max(values.values()) if spec.higher_is_better else min(values.values())
        out[spec.name] = {i for i, v in values.items() if math.isclose(v, top, rel_tol=1e-12, abs_tol=1e-12)}
    return out


def _ranking(
    systems: Sequence[System], dists: Sequence[paired.Distribution], rank_by: str
) -> list[tuple[int | None, int]]:
    """``(rank, index)`` in leaderboard order: the ceiling first (no rank), then the others by ``rank_by``,
    ties broken by the other headline metrics, then by input order."""
    keys = [rank_by, *(m for m in HEADLINE if m != rank_by)]

    def key(i: int) -> tuple:
        out = []
        for name in keys:
            value = dists[i].point.get(name)
            spec = METRICS_BY_NAME[name]
            out.append(math.inf if value is None else (-value if spec.higher_is_better else value))
        return (*out, i)

    ceilings = [(None, i) for i, s in enumerate(systems) if s.role == "ceiling"]
    others = sorted((i for i, s in enumerate(systems) if s.role != "ceiling"), key=key)
    return ceilings + [(rank, i) for rank, i in enumerate(others, 1)]
