"""A DATASET dir loads with datasets' imagefolder builder: an Image column plus the 17 typed columns."""

import pytest

from contracts.dataset.schema import COLUMNS


@pytest.mark.slow
def test_imagefolder_loads_with_schema_features(tmp_path, write_small_dataset):
    """load_dataset("imagefolder", data_dir=DIR) gives every split, an Image column and the schema dtypes."""
    datasets = pytest.importorskip("datasets")
    out = write_small_dataset(tmp_path / "data")
    ds = datasets.load_dataset("imagefolder", data_dir=str(out), cache_dir=str(tmp_path / "cache"))
    assert set(ds) == {"train", "validation", "test"}
    assert ds["train"].num_rows == 10
    features = ds["train"].features
    assert isinstance(features["image"], datasets.Image)
    for name, dtype in COLUMNS.items():
        assert features[name].dtype == dtype, name
    assert ds["train"][0]["image"].size == (16, 16)
