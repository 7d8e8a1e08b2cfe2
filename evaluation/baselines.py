"""Baselines: peers of a model on the same split, answering in the same text format, scored by the same code.

- ``majority``: the most frequent training category, its most frequent title, the median training price.
- ``nearest``: the training item whose image is closest under ``contracts.image_features.embed_image``;
  its answer copied.
- ``probe``: scikit-learn on the same features: logistic regression for the category, ridge regression on
  log price, and the title of the nearest training image within the predicted category.
- ``oracle``: the answers the generator derived from each row's latent attributes (``latents.jsonl``,
  synthetic data only): the ceiling the synthetic data allows.

Each returns one answer string per evaluation row, built with ``contracts.task.build_answer``, so the parser
and scorer treat baselines exactly like a model's generations.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from contracts.dataset import layout
from contracts.errors import UserError
from contracts.image_features import standardize
from contracts.task import build_answer

BASELINES: tuple[str, ...] = ("majority", "nearest", "probe", "oracle")
NEEDS_TRAIN = frozenset({"majority", "nearest", "probe"})
NEEDS_FEATURES = frozenset({"nearest", "probe"})


def majority_answers(train: pd.DataFrame, n: int) -> list[str]:
    """The same answer ``n`` times: the most frequent category (ties: alphabetical), its most frequent title,
    the median training price."""
    _require_rows(train, "majority")
    counts = train["category3_code"].value_counts()
    category = sorted(counts[counts == counts.max()].index)[0]
    titles = train.loc[train["category3_code"] == category, "title"].value_counts()
    title = sorted(titles[titles == titles.max()].index)[0]
    price = float(np.median(train["full_price"].to_numpy(dtype=float)))
    return [build_answer(title, category, round(price, 2))] * n


def nearest_answers(train: pd.DataFrame, train_x: np.ndarray, eval_x: np.ndarray) -> list[str]:
    """Copy the answer of the training item with the closest (standardised, Euclidean) feature vector."""
    _require_rows(train, "nearest")
    tr, ev = standardize(train_x, eval_x)
    index = _nearest(tr, ev)
    rows = train.iloc[index]
    return [
        build_answer(t, c, p)
        for t, c, p in zip(rows["title"], rows["category3_code"], rows["full_price"], strict=True)
    ]


def probe_answers(
    train: pd.DataFrame, train_x: np.ndarray, eval_x: np.ndarray, *, seed: int = 0
) -> list[str]:
    """Linear probes on the image features: category (logistic regression), log price (ridge), title (nearest
    training image within the predicted category)."""
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from threadpoolctl import threadpool_limits

    _require_rows(train, "probe")
    tr, ev = standardize(train_x, eval_x)
    categories = train["category3_code"].astype(str).to_numpy()
    # One BLAS thread: these problems are small, and on a busy machine extra threads spin-wait for each other.
    with threadpool_limits(limits=1):
        if len(set(categories)) > 1:
            clf = LogisticRegression(max_iter=300, C=0.1, tol=1e-3, random_state=seed)
            clf.fit(tr, categories)
            pred_cat = clf.predict(ev)
        else:
            pred_cat = np.full(len(ev), categories[0], dtype=object)
        reg = RidgeCV(alphas=(1.0, 10.0, 100.0, 1000.0))  # efficient leave-one-out picks the shrinkage
        reg.fit(tr, np.log1p(train["full_price"].to_numpy(dtype=float)))
        pred_price = np.expm1(reg.predict(ev)).clip(min=0.0)
    titles = train["title"].astype(str).to_numpy()
    answers = []
    for cat, price, x in zip(pred_cat, pred_price, ev, strict=True):
        members = np.flatnonzero(categories == cat)
        j = members[_nearest(tr[members], x[None, :])[0]]
        answers.append(build_answer(titles[j], str(cat), round(float(price), 2)))
    return answers


def oracle_answers(rows: pd.DataFrame, latents: pd.DataFrame) -> list[str]:
    """The generator's own answer for each row (``layout.ORACLE_KEY`` of its latent record); a row without
    one gets an empty answer (scored as wrong).

    Raises:
        UserError: the latent records carry no oracle answers (a dataset from an older ``datagen synth``).
    """
    if layout.ORACLE_KEY not in latents.columns:
        raise UserError(
            f"its {layout.LATENTS_FILE} holds no oracle answers: regenerate the dataset with datagen synth"
        )
    by_code = dict(zip(latents["product_code"].astype(int), latents[layout.ORACLE_KEY], strict=True))
    answers = []
    for code in rows["product_code"]:
        oracle = by_code.get(int(code))
        if not isinstance(oracle, dict):
            answers.append("")
        else:
            answers.append(build_answer(oracle["title"], oracle["category3_code"], oracle["full_price"]))
    return answers


def _nearest(reference: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Index into ``reference`` of the nearest row to each query (squared Euclidean; ties: lowest index)."""
    ref_sq = (reference**2).sum(axis=1)
    out = np.empty(len(queries), dtype=np.int64)
    for start in range(0, len(queries), 512):  # chunks keep the distance matrix small on big splits
        q = queries[start : start + 512]
        dist = ref_sq[None, :] - 2.0 * q @ reference.T
        out[start : start + 512] = dist.argmin(axis=1)
    return out


def _require_rows(train: pd.DataFrame, name: str) -> None:
    if len(train) == 0:
        raise UserError(f"the {name} baseline needs a non-empty train split: regenerate the dataset with one")


def check_names(names: Sequence[str]) -> list[str]:
    """Validate baseline names (``all`` expands to every baseline), keeping their order."""
    out: list[str] = []
    for name in names:
        expanded = BASELINES if name == "all" else (name,)
        for n in expanded:
            if n not in BASELINES:
                raise UserError(f"unknown baseline {n!r}: choose from {', '.join(BASELINES)} or all")
            if n not in out:
                out.append(n)
    return out
