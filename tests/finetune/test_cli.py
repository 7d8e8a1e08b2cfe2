"""The `finetune` command: flags mirror TrainConfig; user errors are one line and exit code 2."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from contracts.errors import run_cli
from finetune.cli import command
from finetune.config import TrainConfig


def test_every_field_is_a_flag_and_back():
    """The options are exactly the TrainConfig fields (click passes them straight to the dataclass)."""
    assert {p.name for p in command.params} == {f.name for f in dataclasses.fields(TrainConfig)}


def test_fit_memory_is_a_flag_pair():
    """--fit-memory / --no-fit-memory set the field; left out (None), the recipe's value holds."""
    argv = ["--data", "d", "--out", "o"]
    assert command.make_context("finetune", [*argv, "--no-fit-memory"]).params["fit_memory"] is False
    assert command.make_context("finetune", [*argv, "--fit-memory"]).params["fit_memory"] is True
    assert command.make_context("finetune", argv).params["fit_memory"] is None


def _fails(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        run_cli(command, argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    return err


def test_missing_dataset_dir(tmp_path, capsys):
    assert "no such dataset dir" in _fails(
        ["--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r")], capsys
    )


def test_malformed_dataset_dir(tmp_path, capsys):
    (tmp_path / "data" / "train").mkdir(parents=True)
    (tmp_path / "data" / "train" / "metadata.parquet").write_text("not parquet")
    _fails(["--data", str(tmp_path / "data"), "--out", str(tmp_path / "r")], capsys)


def test_unknown_preset(handmade_dataset, tmp_path, capsys):
    argv = ["--data", str(handmade_dataset), "--out", str(tmp_path / "r"), "--model", "huge"]
    err = _fails([*argv, "--recipe", "tiny-cpu"], capsys)
    assert "--model 'huge'" in err and not (tmp_path / "r").exists()


def test_another_model_needs_a_recipe_for_it(handmade_dataset, tmp_path, capsys):
    """--model alone would train a 4B model with the tiny recipe's from-scratch settings: refused, with the
    recipes that fit named."""
    argv = ["--data", str(handmade_dataset), "--out", str(tmp_path / "r"), "--model", "phi3v"]
    err = _fails(argv, capsys)
    assert "needs a recipe made for it" in err and "phi3v-lora" in err


def test_occupied_run_dir(handmade_dataset, tmp_path, capsys):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "config.json").write_text('{"train": {}, "versions": {"phi3v-catalogue": "0.1.0"}}')
    err = _fails(["--data", str(handmade_dataset), "--out", str(tmp_path / "r")], capsys)
    assert "--resume" in err and "--overwrite" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="QLoRA runs where CUDA is present")
def test_qlora_without_cuda(handmade_dataset, tmp_path, capsys):
    argv = ["--data", str(handmade_dataset), "--out", str(tmp_path / "r"), "--recipe", "phi3v-qlora"]
    assert "CUDA" in _fails([*argv, "--model", "tiny"], capsys)


def test_bad_flag_value(handmade_dataset, tmp_path, capsys):
    argv = ["--data", str(handmade_dataset), "--out", str(tmp_path / "r"), "--batch-size", "0"]
    assert "--batch-size" in _fails(argv, capsys)


@pytest.mark.slow
def test_a_short_run_prints_its_summary(handmade_dataset, tmp_path, capsys):
    """A few steps through the command: exit 0, a summary with throughput and validation loss."""
    argv = ["--data", str(handmade_dataset), "--out", str(tmp_path / "r"), "--max-steps", "2", "--no-wandb"]
    argv += ["--batch-size", "4", "--num-crops", "1", "--sample-predictions", "0"]
    run_cli(command, argv)  # returns normally: exit code 0
    err = capsys.readouterr().err
    assert "finished 2 steps" in err and "samples/s" in err and "best validation" in err


def test_help_gives_one_default_per_flag_and_says_when_to_touch_the_stage_flags():
    """--help: no flag shows two bracketed defaults; the flags a newcomer will not know say what they do."""
    helps = {p.opts[0]: p.help for p in command.params if p.help}
    assert all(text.count(" [") <= 1 for text in helps.values()), helps
    assert helps["--dropout"] == "decoder residual dropout (unset: the model's own) [tiny-cpu: 0.2]"
    for flag, words in {
        "--ema": "noisy batches",
        "--encoder-warmup": "from scratch",
        "--pixel-memory-gib": "short of memory",
        "--vision-lr-ratio": "pretrained",
    }.items():
        assert words in helps[flag], flag


@pytest.mark.slow
def test_fsdp_without_several_gpu_processes_is_refused(handmade_dataset, tmp_path, capsys):
    """--fsdp on a CPU (or one process) would be silently ignored: one line instead, nothing written."""
    err = _fails(
        ["--data", str(handmade_dataset), "--out", str(tmp_path / "r"), "--fsdp", "--no-wandb"], capsys
    )
    assert "--fsdp shards a model across GPUs" in err and "1 process on cpu" in err
    assert not (tmp_path / "r").exists()
