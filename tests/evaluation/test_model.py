"""The model side of an evaluation: threads, mirroring and crops as ``--threads``, ``--mirror`` and
``--num-crops`` ask."""

from __future__ import annotations

import pytest
import torch


def test_generation_threads():
    """An explicit thread count wins; 0 gives one thread to a small CPU model, torch's default otherwise."""
    from evaluation.predict import generation_threads

    class Fake(torch.nn.Module):
        def __init__(self, n):
            super().__init__()
            self.n = n

        def parameters(self):
            yield torch.zeros(1).expand(self.n)  # a view: the numel of a big model without its memory

    assert generation_threads(3, Fake(10)) == 3
    assert generation_threads(0, Fake(10)) == 1
    assert generation_threads(0, Fake(200_000_000)) == torch.get_num_threads()


def test_mirror_auto_follows_the_runs_training():
    """--mirror auto: on for a RUN trained with mirrored images, off for other models; on/off force it."""
    from evaluation.config import EvalConfig
    from evaluation.predict import mirror_views

    trained = {"run_config": {"train": {"mirror": True}}}
    plain = {"run_config": {"train": {"mirror": False}}}
    preset = {"run_config": None}
    auto = EvalConfig(data="d", model="r")
    assert [mirror_views(auto, m) for m in (trained, plain, preset, {})] == [True, False, False, False]
    assert mirror_views(EvalConfig(data="d", model="r", mirror="off"), trained) is False
    assert mirror_views(EvalConfig(data="d", model="r", mirror="on"), preset) is True


def test_mirror_mode_is_checked():
    from contracts.errors import UserError
    from evaluation.config import EvalConfig

    with pytest.raises(UserError, match="--mirror must be one of auto, on, off"):
        EvalConfig(data="d", mirror="yes")


def test_num_crops_reaches_the_processor():
    """--num-crops bounds the HD grid of the model evaluated (0: its own)."""
    from evaluation.config import EvalConfig
    from evaluation.predict import load_model_for

    meta = {"path": None, "spec": "tiny"}
    _, own = load_model_for(EvalConfig(data="d", model="tiny", device="cpu"), meta)
    _, four = load_model_for(EvalConfig(data="d", model="tiny", device="cpu", num_crops=4), meta)
    assert own.image_processor.num_crops == 1 and four.image_processor.num_crops == 4
