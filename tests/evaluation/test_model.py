"""Our model as a system: device, dtype, threads, mirroring and crops decided once, as the flags ask."""

from __future__ import annotations

import pytest
import torch

from contracts.errors import UserError
from evaluation.config import EvalConfig
from evaluation.model import (
    OurModel,
    available_cores,
    capped_threads,
    generation_threads,
    mirror_views,
    torch_settings,
)


def test_generation_threads():
    """An explicit thread count wins; 0 gives one thread to a small CPU model, torch's default otherwise."""

    class Fake(torch.nn.Module):
        def __init__(self, n):
            super().__init__()
            self.n = n

        def parameters(self):
            yield torch.zeros(1).expand(self.n)  # a view: the numel of a big model without its memory

    assert generation_threads(3, Fake(10)) == 3
    assert generation_threads(0, Fake(10)) == 1
    assert generation_threads(0, Fake(200_000_000)) == torch.get_num_threads()


def test_threads_are_capped_at_the_cores_with_a_note():
    """--threads 1000 would make every matmul wait for threads that have no core: cut to the cores, said."""
    cores = available_cores()
    assert capped_threads(1000) == (
        cores,
        f"--threads 1000 is more than the {cores} cores available: using {cores}",
    )
    assert capped_threads(cores) == (cores, None) and capped_threads(0) == (0, None)
    model = OurModel("tiny", EvalConfig(data="d", model="tiny", threads=1000, device="cpu"))
    assert model.threads == cores and model.notes == [capped_threads(1000)[1]]


def test_mirror_auto_follows_the_runs_training():
    """--mirror auto: on for a RUN trained with mirrored images, off for other models; on/off force it."""
    trained = {"run_config": {"train": {"mirror": True}}}
    plain = {"run_config": {"train": {"mirror": False}}}
    preset = {"run_config": None}
    assert [mirror_views("auto", m) for m in (trained, plain, preset, {})] == [True, False, False, False]
    assert mirror_views("off", trained) is False
    assert mirror_views("on", preset) is True


def test_mirror_mode_is_checked():
    with pytest.raises(UserError, match="--mirror must be one of auto, on, off"):
        EvalConfig(data="d", mirror="yes")


@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_a_device_torch_does_not_have_is_one_line(device, monkeypatch):
    """--device cuda or mps where torch sees none: a user error naming --device cpu, before any work."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(UserError, match=f"--device {device} but .*: use --device cpu"):
        torch_settings(device, "auto")
    with pytest.raises(UserError, match=f"--device {device}"):
        OurModel("tiny", EvalConfig(data="d", model="tiny", device=device))


def test_num_crops_reaches_the_processor(eval_dataset):
    """--num-crops bounds the HD grid of the model evaluated (0: its own)."""
    from evaluation.data import read_eval_set

    data = read_eval_set(str(eval_dataset), "test", limit=1)
    own = OurModel("tiny", EvalConfig(data="d", model="tiny", device="cpu"))
    four = OurModel("tiny", EvalConfig(data="d", model="tiny", device="cpu", num_crops=4))
    own.prepare(data)
    four.prepare(data)
    assert own.processor.image_processor.num_crops == 1 and four.processor.image_processor.num_crops == 4


def test_quiet_silences_the_weight_loading_bar(tmp_path, capfd, monkeypatch):
    """transformers draws a bar while loading weights: not with --quiet, even on a terminal."""
    import sys

    from evaluation.data import read_eval_set
    from phi3v.loading import load_model
    from tests.evaluation.conftest import write_eval_dataset

    model, processor = load_model("tiny")
    model.save_pretrained(tmp_path / "m")
    processor.save_pretrained(tmp_path / "m")
    data = read_eval_set(str(write_eval_dataset(tmp_path / "d", n_train=2, n_test=1)), "test")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    capfd.readouterr()
    OurModel(str(tmp_path / "m"), EvalConfig(data="d", model="m", device="cpu", quiet=True)).prepare(data)
    assert "Loading weights" not in capfd.readouterr().err
    OurModel(str(tmp_path / "m"), EvalConfig(data="d", model="m", device="cpu")).prepare(data)
    assert "Loading weights" in capfd.readouterr().err
