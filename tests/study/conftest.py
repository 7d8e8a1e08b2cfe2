"""Fixtures of the study tests: tiny DATASET dirs made by `datagen synth` itself."""

from __future__ import annotations

import pytest


@pytest.fixture
def tiny_dataset(tmp_path):
    from datagen.config import SynthConfig
    from datagen.synth.run import synthesize

    return synthesize(
        SynthConfig(out=str(tmp_path / "tiny"), rows=30, image_size=32, seed=5, workers=1, quiet=True)
    )
