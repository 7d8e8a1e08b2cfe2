"""Does a model trained on the synthetic rows work on real rows? Train on synthetic, test on real (TSTR),
against train on real, test on real (TRTR), on the same real test rows the fit never saw.

Three cheap tasks, each a scikit-learn model that trains in seconds on 2 cores:

- **category from title**: TF-IDF character 2-4-grams of the title, logistic regression -> category3
  (accuracy; macro-F1 beside it);
- **price from category and title**: one-hot category codes and TF-IDF title words, ridge regression on log
  price (R^2 of log price; median absolute percentage error beside it);
- **category from image** (where both sides have images): the probe baseline's image features, standardised,
  logistic regression -> category3 (accuracy).

Each task is scored three times: trained on the real training rows, on the synthetic rows, and on both
(augmentation). The utility **ratio** is synthetic-trained over real-trained (Gretel's utility score; 1 means
the synthetic rows teach as much as the real ones). A test category absent from the training rows counts as
a miss, so a synthetic set that lacks a real category pays for it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from contextlib import contextmanager

import numpy as np
import pandas as pd

CATEGORY = "category3_code"


@contextmanager
def _quiet():
    """One BLAS thread (small problems: extra threads only spin-wait) and no convergence warnings."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _title_classifier(seed: int):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True),
        LogisticRegression(C=10.0, max_iter=300, tol=1e-3, random_state=seed),
    )


def category_from_title(train: pd.DataFrame, test: pd.DataFrame, seed: int = 0) -> dict:
    """Accuracy and macro-F1 of category3 predicted from the title, trained on ``train``."""
    from sklearn.metrics import accuracy_score, f1_score

    y_train = train[CATEGORY].astype(str).to_numpy()
    y_test = test[CATEGORY].astype(str).to_numpy()
    if len(set(y_train)) < 2:
        pred = np.full(len(test), y_train[0] if len(y_train) else "", dtype=object)
    else:
        model = _title_classifier(seed)
        model.fit(train["title"].astype(str), y_train)
        pred = model.predict(test["title"].astype(str))
    return {
        "score": float(accuracy_score(y_test, pred)),
        "macro_f1": float(f1_score(y_test, pred, average="macro", zero_division=0)),
    }


def price_from_category_and_title(train: pd.DataFrame, test: pd.DataFrame, seed: int = 0) -> dict:
    """R^2 of log price (and the median absolute percentage error) from category codes and title words."""
    from sklearn.compose import make_column_transformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    cats = ["category1_code", "category2_code", CATEGORY]
    features = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), cats),
        (TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), "title"),
    )
    model = make_pipeline(features, Ridge(alpha=1.0))

    def frame(t: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({**{c: t[c].astype(str) for c in cats}, "title": t["title"].astype(str)})

    model.fit(frame(train), np.log(train["full_price"].to_numpy(dtype=float)))
    truth = test["full_price"].to_numpy(dtype=float)
    pred_log = model.predict(frame(test))
    ape = np.abs(np.exp(pred_log) - truth) / truth
    return {"score": float(r2_score(np.log(truth), pred_log)), "median_ape": float(np.median(ape))}


def category_from_image(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, seed: int = 0
) -> dict:
    """Accuracy of category3 from standardised image features (the probe baseline's model)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(set(y_train)) < 2:
        pred = np.full(len(y_test), y_train[0] if len(y_train) else "", dtype=object)
    else:
        model = make_pipeline(
            StandardScaler(), LogisticRegression(C=0.1, max_iter=300, tol=1e-3, random_state=seed)
        )
        model.fit(x_train, y_train)
        pred = model.predict(x_test)
    return {"score": float(accuracy_score(y_test, pred))}


def _three_ways(fit: Callable[[str], dict]) -> dict:
    """Score a task trained on real rows, synthetic rows, and both; the ratio synthetic / real."""
    out = {side: fit(side) for side in ("real", "synth", "augmented")}
    real = out["real"]["score"]
    out["ratio"] = out["synth"]["score"] / real if real > 0 else None
    out["augmentation_gain"] = out["augmented"]["score"] - real
    return out


def utility(
    real_train: pd.DataFrame,
    real_test: pd.DataFrame,
    synth: pd.DataFrame,
    images: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    seed: int = 0,
) -> dict:
    """Every task trained three ways and tested on ``real_test``. ``images``, where both sides have them,
    maps ``real_train``, ``real_test`` and ``synth`` to (image features, category3) of those rows or of a
    sample of them."""
    both = pd.concat([real_train, synth], ignore_index=True)
    train_of = {"real": real_train, "synth": synth, "augmented": both}
    tasks = {}
    rows = {"real_train": len(real_train), "real_test": len(real_test), "synth": len(synth)}
    with _quiet():
        tasks["category_from_title"] = _three_ways(
            lambda side: category_from_title(train_of[side], real_test, seed)
        )
        tasks["price_from_category_and_title"] = _three_ways(
            lambda side: price_from_category_and_title(train_of[side], real_test, seed)
        )
        if images is not None:
            xy = {"real": images["real_train"], "synth": images["synth"]}
            xy["augmented"] = tuple(
                np.concatenate(pair) for pair in zip(xy["real"], xy["synth"], strict=True)
            )
            x_test, y_test = images["real_test"]
            tasks["category_from_image"] = _three_ways(
                lambda side: category_from_image(*xy[side], x_test, y_test, seed)
            )
            rows["images"] = {k: len(v[1]) for k, v in images.items()}
    return {"tasks": tasks, "rows": rows}


TASKS = {
    "category_from_title": (
        "category from title",
        "accuracy",
        "TF-IDF character 2-4-grams, logistic regression",
    ),
    "price_from_category_and_title": (
        "price from category and title",
        "R² of log price",
        "one-hot categories + TF-IDF title words, ridge on log price",
    ),  # fmt: skip
    "category_from_image": (
        "category from image",
        "accuracy",
        "the probe baseline's image features, logistic regression",
    ),  # fmt: skip
}
