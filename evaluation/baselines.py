"""Baselines: peers of a model on the same split, answering in the same text format, scored by the same code.

- ``majority``: the most frequent training category, its most frequent title, the median training price.
- ``nearest``: the training item whose image is closest under ``contracts.image_features.embed_image``;
  its answer copied.
- ``probe``: scikit-learn on the same features: logistic regression for the category, ridge regression on
  log price, and the title of the nearest training image within the predicted category.
- ``oracle``: the answers the generator derived from each row's latent attributes (``latents.jsonl``,
  synthetic data only): the ceiling the synthetic data allows.

Each returns one answer string per evaluation row, built with ``contracts.task.build_answer``, so the parser
and scorer treat baselines exactly like a model's generations. ``baseline_system`` wraps each as a
``System``; nearest and probe share one ``ImageFeatures`` (the images are read once for both).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from contracts.dataset import layout
from contracts.errors import UserError
from contracts.image_features import standardize
from contracts.task import build_answer
from evaluation.systems import Answers, Progress, System, progress_bar

if TYPE_CHECKING:
    from evaluation.data import EvalSet

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


# -- baselines as systems --------------------------------------------------------------------------------


class ImageFeatures:
    """The image features of the train split and the rows, computed once for the baselines that need them."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self._train = self._rows = None  # what the features are of (held, so that "is" compares them)
        self.train_x = self.eval_x = None
        self.seconds, self.computed = 0.0, 0  # how long the last computation took; how many there were

    def of(self, data: EvalSet) -> tuple[np.ndarray, np.ndarray]:
        """(train features, row features) of ``data``."""
        from contracts.dataset.reader import IMAGE_PATH, load_image
        from contracts.image_features import embed_images

        if self._train is not data.train or self._rows is not data:
            start = time.perf_counter()
            train_paths = list(data.train[IMAGE_PATH]) if self._train is not data.train else []
            with progress_bar(len(train_paths) + len(data), "image features", self.quiet) as bar:
                if train_paths:  # a server keeps its train split: its features are computed once
                    self.train_x = embed_images(train_paths, load_image, bar.update)
                self.eval_x = embed_images(range(len(data)), data.load_image, bar.update)
            self._train, self._rows, self.seconds = data.train, data, time.perf_counter() - start
            self.computed += 1
        return self.train_x, self.eval_x


class Baseline(System):
    """One baseline: ``answers(data)`` gives its answer to every row."""

    needs_train = True
    needs_features = False

    def __init__(self, name: str, answers: Callable[[EvalSet], list[str]], features: ImageFeatures,
                 optional: bool) -> None:  # fmt: skip
        self.name, self._answers, self.features, self.optional = name, answers, features, optional
        self.info = {"name": name, "spec": name, "kind": "baseline", "path": None, "run": None,
                     "decoding": "—"}  # fmt: skip

    def prepare(self, data: EvalSet) -> None:
        if self.needs_train and (data.train is None or len(data.train) == 0):
            raise UserError(f"baseline {self.name} needs a train split, and {data.data_dir} has none")

    def answer(
        self, data: EvalSet, *, progress: Progress | None = None, max_new_tokens: int | None = None
    ) -> Answers:
        start, computed = time.perf_counter(), self.features.computed
        texts = self._answers(data)
        # the shared image features count towards each baseline that reads them, whichever computed them
        shared = self.features.seconds if self.needs_features and self.features.computed == computed else 0.0
        if progress is not None:
            progress(len(texts))
        return Answers(texts=list(texts), seconds=time.perf_counter() - start + shared)


class _Oracle(Baseline):
    needs_train = False

    def prepare(self, data: EvalSet) -> None:
        from contracts.dataset.reader import read_latents

        latents = read_latents(data.data_dir) if data.data_dir else None
        if latents is None:
            raise UserError(
                f"baseline oracle needs {layout.LATENTS_FILE}, and {data.data_dir} has none (real data)"
            )
        if layout.ORACLE_KEY not in latents.columns:
            oracle_answers(data.rows, latents)  # raises the one line that says why
        self.latents = latents


class _FeatureBaseline(Baseline):
    needs_features = True


def baseline_system(name: str, features: ImageFeatures, *, seed: int = 0, optional: bool = False) -> Baseline:
    """The baseline ``name`` as a system (``optional``: named by --baselines, skipped where it cannot run)."""
    if name == "majority":
        return Baseline(name, lambda d: majority_answers(d.train, len(d)), features, optional)
    if name == "nearest":
        return _FeatureBaseline(name, lambda d: nearest_answers(d.train, *features.of(d)), features, optional)
    if name == "probe":
        return _FeatureBaseline(
            name, lambda d: probe_answers(d.train, *features.of(d), seed=seed), features, optional
        )
    if name == "oracle":
        oracle = _Oracle(name, lambda d: oracle_answers(d.rows, oracle.latents), features, optional)
        return oracle
    raise UserError(f"unknown baseline {name!r}: choose from {', '.join(BASELINES)} or all")
