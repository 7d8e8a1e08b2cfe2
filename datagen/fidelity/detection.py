"""Can a classifier tell the synthetic rows from the real ones? Three detectors, one scale.

- **table**: SDMetrics' ``LogisticDetection`` on the table its quality report scores (categories, prices,
  title lengths; ``datagen.fidelity.scores.sdmetrics_table``);
- **titles**: the same question asked of the title text: TF-IDF character n-grams and a logistic regression;
- **images** (where both sides have images): a logistic regression on the cheap image features of
  ``contracts.image_features`` (evaluation's probe features). Rendered products are not photographs: against
  real photos this detector is expected to win outright, which says the images are drawings, not that the
  table gives the source away.

Every score is on SDMetrics' detection scale: three stratified folds, ``1 - mean(2 x max(AUC, 0.5) - 1)``;
1 means the classifier cannot tell the two apart (AUC 0.5), 0 that it always can. The AUC is beside it.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager

import numpy as np
import pandas as pd

MAX_ROWS = 3000  # per side; larger datasets are sampled (seeded) so detection stays a matter of seconds
FOLDS = 3


@contextmanager
def seeded_global_numpy(seed: int):
    """Run library code that draws from numpy's global generator (SDMetrics' shuffled folds) from ``seed``,
    leaving the caller's global state as it was, and its size and constant-column warnings unshown."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        np.random.set_state(state)


def sample_rows(n: int, limit: int, seed: int) -> np.ndarray:
    """Sorted indices of at most ``limit`` of ``n`` rows, chosen with ``seed``."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def detection_score(auc: float) -> float:
    """SDMetrics' detection scale for one AUC: ``1 - (2 x max(AUC, 0.5) - 1)``."""
    return 1.0 - (2.0 * max(auc, 0.5) - 1.0)


def _cross_validated(x, y: np.ndarray, make_model, seed: int) -> dict:
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits

    aucs = []
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings on easy problems
        for train, test in StratifiedKFold(FOLDS, shuffle=True, random_state=seed).split(np.zeros(len(y)), y):
            model = make_model()
            model.fit(x[train], y[train])
            aucs.append(float(roc_auc_score(y[test], model.predict_proba(x[test])[:, 1])))
    return {
        "score": float(np.mean([detection_score(a) for a in aucs])),
        "auc": float(np.mean(aucs)),
    }


def table_detection(real: pd.DataFrame, synth: pd.DataFrame, seed: int = 0) -> dict:
    """SDMetrics' LogisticDetection on the quality report's table (at most ``MAX_ROWS`` rows a side)."""
    from sdmetrics.single_table import LogisticDetection

    from datagen.fidelity.scores import sdmetrics_table

    real = real.iloc[sample_rows(len(real), MAX_ROWS, seed)].reset_index(drop=True)
    synth = synth.iloc[sample_rows(len(synth), MAX_ROWS, seed + 1)].reset_index(drop=True)
    real_t, synth_t, metadata, _ = sdmetrics_table(real, synth)
    with seeded_global_numpy(seed):
        score = LogisticDetection.compute(real_t, synth_t, metadata["tables"]["products"])
    return {"score": float(score), "auc": (2.0 - float(score)) / 2.0, "columns": list(real_t.columns)}


def title_detection(real: pd.Series, synth: pd.Series, seed: int = 0) -> dict:
    """Real-vs-synthetic titles: TF-IDF character 2-4-grams and a logistic regression, cross-validated."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    r = real.astype(str).to_numpy()[sample_rows(len(real), MAX_ROWS, seed)]
    s = synth.astype(str).to_numpy()[sample_rows(len(synth), MAX_ROWS, seed + 1)]
    x = np.concatenate([r, s])
    y = np.concatenate([np.ones(len(r)), np.zeros(len(s))])

    def model():
        return make_pipeline(
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, lowercase=True),
            LogisticRegression(C=1.0, max_iter=300),
        )

    return _cross_validated(x, y, model, seed)


def image_detection(real: np.ndarray, synth: np.ndarray, seed: int = 0) -> dict:
    """Real-vs-synthetic images: standardised image features and a logistic regression, cross-validated."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.concatenate([real, synth])
    y = np.concatenate([np.ones(len(real)), np.zeros(len(synth))])

    def model():
        return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=300, tol=1e-3))

    return _cross_validated(x, y, model, seed)
