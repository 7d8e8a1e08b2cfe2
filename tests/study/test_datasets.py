"""The DATASET dirs a study makes from the user's own: a sample of a parquet-layout dir keeps its rows and
their image bytes, as one of an imagefolder dir does."""

from __future__ import annotations

import pytest

from contracts.dataset.images import image_bytes
from contracts.dataset.reader import IMAGE_PATH, read_split
from datagen.config import SynthConfig
from datagen.synth.run import synthesize
from study.datasets import _sample, _write_rows


@pytest.mark.parametrize("fmt", ["parquet", "imagefolder"])
def test_a_sample_of_either_layout_keeps_rows_and_image_bytes(tmp_path, fmt):
    cfg = SynthConfig(
        out=str(tmp_path / "src"), rows=30, image_size=32, seed=5, workers=1, quiet=True, format=fmt
    )
    source = synthesize(cfg)
    _write_rows(tmp_path / "sample", _sample(source, 10, seed=0), "a sample")
    sample, train = read_split(tmp_path / "sample", "train"), read_split(source, "train")
    assert len(sample) == 10
    by_code = {int(c): ref for c, ref in zip(train["product_code"], train[IMAGE_PATH], strict=True)}
    for code, ref in zip(sample["product_code"], sample[IMAGE_PATH], strict=True):
        assert image_bytes(ref) == image_bytes(by_code[int(code)])


def test_a_fitted_set_learns_from_train_and_validation_and_guards_every_source_title(tmp_path, tiny_dataset):
    """The profile a study fits sees no test row, yet knows the source's titles (test split included) as
    salted digests, so synthesis redraws them as `datagen fit` does."""
    import json

    from contracts.dataset.reader import available_splits
    from datagen.catalogue.profile import CatalogueProfile
    from study.datasets import _fit

    path = _fit(tiny_dataset, tmp_path / "fitted")
    profile = CatalogueProfile.from_dict(json.loads(path.read_text()), source="test")
    titles = {split: read_split(tiny_dataset, split)["title"] for split in available_splits(tiny_dataset)}
    assert "test" in titles and all(profile.is_source_title(t) for ts in titles.values() for t in ts)
    assert str(tiny_dataset) in json.dumps(profile.to_dict())
