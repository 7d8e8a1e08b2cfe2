"""The `evaluate` command line: flags mirror the config, bad input ends in one line and exit code 2."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys

import click
import pandas as pd
import pytest

from contracts.dataset import layout
from contracts.errors import run_cli
from evaluation.cli import group
from evaluation.config import CompareConfig, EvalConfig


def invoke(argv, capsys):
    try:
        run_cli(group, argv)
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_options_match_config_fields():
    """Every EvalConfig field is a flag of the same name, and every flag is a field (no mapping code)."""
    names = {p.name for p in group.params if isinstance(p, click.Option) and p.name != "help"}
    assert names == {f.name for f in dataclasses.fields(EvalConfig)}
    compare = group.commands["compare"]
    assert {p.name for p in compare.params if p.name != "help"} == {
        f.name for f in dataclasses.fields(CompareConfig)
    }


def test_no_arguments_shows_help(capsys):
    """`evaluate` alone prints the help (with both usages) and exits 2."""
    code, out, _ = invoke([], capsys)
    assert code == 2 and "compare" in out and "--model" in out


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


def test_missing_dataset_dir(tmp_path, capsys):
    """A dataset dir that does not exist: one line, exit 2, no report."""
    code, _, err = invoke(["--data", str(tmp_path / "nope"), "--model", "majority", "--report",
                           str(tmp_path / "out/report.html"), "--no-wandb"], capsys)  # fmt: skip
    assert code == 2 and "no such dataset dir" in _one_error_line(err)
    assert not (tmp_path / "out").exists()


def test_missing_split(eval_dataset, tmp_path, capsys):
    """A dataset without the requested split: one line naming the split, exit 2."""
    data = tmp_path / "data"
    shutil.copytree(eval_dataset, data)
    shutil.rmtree(data / "test")
    code, _, err = invoke(["--data", str(data), "--model", "majority", "--no-wandb"], capsys)
    assert code == 2 and "'test'" in _one_error_line(err)


def test_dataset_without_needed_columns(eval_dataset, tmp_path, capsys):
    """A metadata file lacking the title column: one line, exit 2, nothing written."""
    data = tmp_path / "data"
    shutil.copytree(eval_dataset, data)
    meta = data / "test" / layout.METADATA_FILE
    if meta.suffix == ".parquet":
        pd.read_parquet(meta).drop(columns=["title"]).to_parquet(meta)
    else:
        pd.read_json(meta, lines=True).drop(columns=["title"]).to_json(meta, orient="records", lines=True)
    code, _, err = invoke(["--data", str(data), "--model", "majority", "--report", str(tmp_path / "r"),
                           "--no-wandb"], capsys)  # fmt: skip
    assert code == 2 and "title" in _one_error_line(err)
    assert not (tmp_path / "r").exists()


def test_unwritable_report_path(eval_dataset, tmp_path, capsys):
    """A report path whose parent is a file: one line, exit 2."""
    (tmp_path / "f").write_text("")
    code, _, err = invoke(["--data", str(eval_dataset), "--model", "majority", "--report",
                           str(tmp_path / "f" / "r.html"), "--no-wandb"], capsys)  # fmt: skip
    assert code == 2 and "choose another --report" in _one_error_line(err)


def test_missing_model(eval_dataset, tmp_path, capsys):
    """A model dir that does not exist: one line, exit 2."""
    code, _, err = invoke(
        ["--data", str(eval_dataset), "--model", str(tmp_path / "run"), "--no-wandb"], capsys
    )
    assert code == 2 and "no such model dir" in _one_error_line(err)


def test_bad_flag_value(eval_dataset, capsys):
    """Click's own errors (a bad choice) also end in one line and exit 2."""
    code, _, err = invoke(["--data", str(eval_dataset), "--wandb", "sometimes"], capsys)
    assert code == 2 and "--wandb" in _one_error_line(err)


def test_compile_flag_is_parsed_and_shown_in_help(capsys):
    """`--compile` is a flag of its own (off by default) that --help explains."""
    code, out, _ = invoke(["--help"], capsys)
    assert code == 0 and "--compile" in out and "static KV cache" in out
    with group.make_context("evaluate", ["--data", "d", "--model", "tiny", "--compile"]) as ctx:
        assert EvalConfig(**ctx.params).compile is True
    with group.make_context("evaluate", ["--data", "d", "--model", "tiny"]) as ctx:
        assert EvalConfig(**ctx.params).compile is False


def test_settings_are_checked_before_torch_loads():
    """A missing --data (here beside --compile) is one line and exit 2, told before torch is imported."""
    code = (
        "import sys\nfrom evaluation.cli import main\n"
        "try:\n    main()\nexcept SystemExit as e:\n    print(e.code, 'torch' in sys.modules)"
    )
    argv = [sys.executable, "-c", code, "--compile"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == ["2", "False"], (proc.stdout, proc.stderr)
    assert proc.stderr.count("\n") == 1 and "--data is required" in proc.stderr


@pytest.mark.slow
def test_evaluate_then_compare(eval_dataset, tmp_path, capsys):
    """Two baseline evaluations, then `evaluate compare A B --report cmp.html`."""
    for model in ("majority", "nearest"):
        argv = ["--data", str(eval_dataset), "--model", model, "--baselines", "none", "--bootstrap", "100"]
        code, out, err = invoke([*argv, "--report", str(tmp_path / model), "--no-wandb", "--quiet"], capsys)
        assert code == 0, err
        assert "Category accuracy" in out and (tmp_path / model / "report.html").is_file()
    inputs = [str(tmp_path / "majority"), str(tmp_path / "nearest" / "metrics.json")]
    code, out, err = invoke(["compare", *inputs, "--report", str(tmp_path / "cmp.html")], capsys)
    assert code == 0, err
    page = (tmp_path / "cmp.html").read_text()
    assert "majority" in page and "nearest" in page and 'class="num best"' in page


def test_model_is_required(eval_dataset, tmp_path, capsys):
    """`evaluate --data D` alone no longer scores an untrained model: one line naming what --model takes."""
    code, _, err = invoke(["--data", str(eval_dataset), "--no-wandb"], capsys)
    assert code == 2 and "--model is required" in err and err.count("\n") == 1


@pytest.mark.slow
def test_an_existing_report_is_replaced_only_with_overwrite(eval_dataset, tmp_path, capsys):
    """A second evaluate into the same --report refuses without --overwrite; one that is not ours, always."""
    argv = ["--data", str(eval_dataset), "--model", "majority", "--baselines", "none", "--bootstrap", "20",
            "--no-wandb", "--quiet", "--report", str(tmp_path / "r")]  # fmt: skip
    assert invoke(argv, capsys)[0] == 0
    first = (tmp_path / "r" / "metrics.json").read_bytes()
    code, _, err = invoke(argv, capsys)
    assert code == 2 and "pass --overwrite" in err and (tmp_path / "r" / "metrics.json").read_bytes() == first
    assert invoke([*argv, "--overwrite"], capsys)[0] == 0
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "report.html").write_text("<p>my own page</p>")
    code, _, err = invoke([*argv[:-1], str(tmp_path / "mine"), "--overwrite"], capsys)
    assert code == 2 and "not a report file written by this project" in err
    assert (tmp_path / "mine" / "report.html").read_text() == "<p>my own page</p>"
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == [
        "metrics.json",
        "predictions.jsonl",
        "report.html",
    ]


def test_without_a_report_nothing_is_written_to_the_working_dir(eval_dataset, tmp_path, capsys, monkeypatch):
    """Offline W&B needs somewhere to keep its files: without --report it is skipped, with a note, and no
    ./wandb appears in the working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    code, _, err = invoke(["--data", str(eval_dataset), "--model", "majority", "--baselines", "none",
                           "--bootstrap", "20", "--quiet"], capsys)  # fmt: skip
    assert code == 0 and "W&B offline logging skipped" in err
    assert list(tmp_path.iterdir()) == []


def test_a_device_that_is_not_there_is_one_line(eval_dataset, tmp_path, capsys):
    """--device mps where torch has no MPS (as --device cuda without CUDA): one line, exit 2, nothing
    written."""
    import torch

    if torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    code, _, err = invoke(["--data", str(eval_dataset), "--model", "tiny", "--device", "mps", "--no-wandb",
                           "--report", str(tmp_path / "r")], capsys)  # fmt: skip
    assert code == 2 and "--device mps but torch has no MPS device" in _one_error_line(err)
    assert not (tmp_path / "r").exists()


def test_a_bogus_wandb_mode_is_one_line_before_any_work(eval_dataset, tmp_path, capsys, monkeypatch):
    """WANDB_MODE=bogus: one line naming the variable, exit 2, and no report written."""
    monkeypatch.setenv("WANDB_MODE", "bogus")
    code, _, err = invoke(["--data", str(eval_dataset), "--model", "majority", "--baselines", "none",
                           "--report", str(tmp_path / "r")], capsys)  # fmt: skip
    assert code == 2 and "WANDB_MODE='bogus' is not a mode W&B accepts" in _one_error_line(err)
    assert not (tmp_path / "r").exists()


def test_flags_that_cannot_apply_are_refused(eval_dataset, tmp_path, capsys):
    """--from-predictions with --model or --data, and evaluate's own options before `compare`: one line each,
    instead of being ignored."""
    preds = str(tmp_path / "p.jsonl")
    code, _, err = invoke(
        ["--from-predictions", preds, "--model", "majority", "--data", str(eval_dataset)], capsys
    )
    assert code == 2 and "--model and --data cannot apply" in _one_error_line(err)
    code, _, err = invoke(["--model", "x", "compare", "a", "b"], capsys)
    assert code == 2 and "--model cannot apply to `evaluate compare`" in _one_error_line(err)
    code, _, err = invoke(["--model", "majority", "--data", str(eval_dataset), "--prompt", preds], capsys)
    assert code == 2 and "--prompt cannot apply" in _one_error_line(err)


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_from_predictions_says_which_metrics_file_it_could_not_read(eval_dataset, tmp_path, capsys, damage):
    """A predictions.jsonl whose metrics.json is gone or cut short: it is re-scored (its rows name the
    systems), and a note names the file that could not be read."""
    argv = ["--data", str(eval_dataset), "--model", "majority", "--baselines", "nearest", "--bootstrap", "20",
            "--no-wandb", "--quiet", "--report", str(tmp_path / "r")]  # fmt: skip
    assert invoke(argv, capsys)[0] == 0
    metrics = tmp_path / "r" / "metrics.json"
    if damage == "missing":
        metrics.unlink()
    else:
        metrics.write_text(metrics.read_text()[:200])
    code, out, err = invoke(
        ["--from-predictions", str(tmp_path / "r"), "--bootstrap", "20", "--no-wandb"], capsys
    )
    assert code == 0 and out.startswith("majority, nearest on ? (12 items)")
    assert str(metrics) in err and "unknown" in err


@pytest.mark.slow
def test_overwrite_replaces_the_earlier_offline_wandb_runs(eval_dataset, tmp_path, capsys, monkeypatch):
    """Each --overwrite run leaves one offline W&B run under REPORT/wandb, not one more each time; a file of
    the user's there stays."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    argv = ["--data", str(eval_dataset), "--model", "majority", "--baselines", "none", "--bootstrap", "20",
            "--quiet", "--report", str(tmp_path / "r")]  # fmt: skip
    assert invoke(argv, capsys)[0] == 0
    (tmp_path / "r" / "wandb" / "notes.txt").write_text("mine")
    for _ in range(2):
        assert invoke([*argv, "--overwrite"], capsys)[0] == 0
        assert len(list((tmp_path / "r" / "wandb").glob("offline-run-*"))) == 1
    assert (tmp_path / "r" / "wandb" / "notes.txt").read_text() == "mine"


def test_no_wandb_note_when_wandb_was_never_asked_for(eval_dataset, tmp_path, capsys, monkeypatch):
    """Without --report and without any W&B wish (no flag, no WANDB_MODE), evaluate says nothing about W&B."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    code, _, err = invoke(["--data", str(eval_dataset), "--model", "majority", "--baselines", "none",
                           "--bootstrap", "20", "--quiet"], capsys)  # fmt: skip
    assert code == 0 and "W&B" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["evaluate", "compare", "serve"])
def test_help_texts_are_whole_and_start_alike(command):
    """Every flag's help starts in lower case (click's own --help line included) and none is cut short."""
    from evaluation.cli_serve import command as serve

    cmd = {"evaluate": group, "compare": group.commands["compare"], "serve": serve}[command]
    for param in cmd.params:
        text = getattr(param, "help", None)
        if not text:
            continue
        assert text[0].islower() or text.startswith(("DATASET", "W&B", "OpenAI")), (param.name, text)
        assert "…" not in text and not text.rstrip().endswith("..."), (param.name, text)


@pytest.mark.slow
def test_overwrite_never_replaces_another_kind_of_report(eval_dataset, tmp_path, capsys):
    """An evaluation report is not written over by a comparison or a fidelity page, nor a comparison by
    an evaluation, --overwrite or not: one line, exit 2, every file as it was."""
    from datagen.cli import group as datagen_group

    argv = ["--data", str(eval_dataset), "--model", "majority", "--baselines", "none", "--bootstrap", "20",
            "--no-wandb", "--quiet", "--report", str(tmp_path / "r")]  # fmt: skip
    assert invoke(argv, capsys)[0] == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir()}
    page = str(tmp_path / "r" / "report.html")
    code, _, err = invoke(["compare", str(tmp_path / "r"), "--report", page, "--overwrite"], capsys)
    assert code == 2 and "not a comparison written by this project" in err
    with pytest.raises(SystemExit) as exc:
        run_cli(
            datagen_group, ["compare", str(eval_dataset), str(eval_dataset), "--report", page, "--overwrite"]
        )
    assert exc.value.code == 2 and "not a fidelity report written by this project" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir()} == before
    cmp = tmp_path / "c" / "cmp.html"
    assert invoke(["compare", str(tmp_path / "r"), "--report", str(cmp)], capsys)[0] == 0
    cmp_bytes = cmp.read_bytes()
    code, _, err = invoke([*argv[:-1], str(cmp), "--overwrite"], capsys)
    assert code == 2 and "not a report file written by this project" in err and cmp.read_bytes() == cmp_bytes
