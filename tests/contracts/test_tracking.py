"""The W&B policy every command follows: one rule, one set of values."""

from __future__ import annotations

import pytest

from contracts.errors import UserError
from contracts.tracking import WANDB_CHOICES, resolve_wandb_mode, wandb_asked_for


@pytest.mark.parametrize(
    ("choice", "env", "mode"),
    [
        ("auto", {}, "offline"),
        ("auto", {"WANDB_API_KEY": "k"}, "online"),
        ("auto", {"WANDB_API_KEY": "k", "WANDB_MODE": "offline"}, "offline"),
        ("auto", {"WANDB_MODE": "disabled"}, None),
        ("auto", {"WANDB_MODE": "dryrun"}, "offline"),
        ("off", {"WANDB_API_KEY": "k"}, None),
        ("online", {"WANDB_API_KEY": "k"}, "online"),
        ("offline", {"WANDB_API_KEY": "k"}, "offline"),
    ],
)
def test_mode_from_flag_and_environment(choice, env, mode, tmp_path):
    """Offline by default; online with a key; WANDB_MODE is followed under auto; off means no W&B."""
    env = {"NETRC": str(tmp_path / "netrc"), **env}
    assert resolve_wandb_mode(choice, env) == mode


def test_online_without_a_key_is_one_clear_error(tmp_path):
    """Asked for online with no key configured (env or ~/.netrc): a user error naming the fixes."""
    env = {"NETRC": str(tmp_path / "netrc")}
    with pytest.raises(UserError, match="WANDB_API_KEY.*--no-wandb"):
        resolve_wandb_mode("online", env)
    (tmp_path / "netrc").write_text("machine api.wandb.ai login user password k\n")
    assert resolve_wandb_mode("online", env) == "online"


def test_every_command_takes_the_same_values():
    """finetune and evaluate accept exactly the policy's values for --wandb, and both have --no-wandb."""
    from click.testing import CliRunner

    from evaluation.cli import group as evaluate_cli
    from finetune.cli import command as finetune_cli

    for cli in (finetune_cli, evaluate_cli):
        option = next(p for p in cli.params if "--wandb" in p.opts)
        assert tuple(option.type.choices) == WANDB_CHOICES
        assert any("--no-wandb" in p.opts for p in cli.params)
    assert CliRunner().invoke(finetune_cli, ["--help"]).exit_code == 0


@pytest.mark.parametrize("choice", ["auto", "offline", "online"])
def test_a_bogus_wandb_mode_is_one_clear_error_before_wandb_starts(choice, tmp_path):
    """WANDB_MODE=bogus would make wandb fail deep inside with a pydantic traceback: refused at once, naming
    the variable and the values it takes; with --wandb off W&B never starts and the variable is not read."""
    env = {"NETRC": str(tmp_path / "netrc"), "WANDB_API_KEY": "k", "WANDB_MODE": "bogus"}
    with pytest.raises(UserError, match="WANDB_MODE='bogus' is not a mode W&B accepts.*offline"):
        resolve_wandb_mode(choice, env)
    assert resolve_wandb_mode("off", env) is None
    # our own "off" is accepted under auto, but wandb itself would refuse it when asked to log
    assert resolve_wandb_mode("auto", {**env, "WANDB_MODE": "off"}) is None
    with pytest.raises(UserError, match="WANDB_MODE='off'"):
        resolve_wandb_mode("offline", {**env, "WANDB_MODE": "off"})


@pytest.mark.parametrize(
    ("choice", "env", "asked"),
    [
        ("auto", {}, False),
        ("auto", {"WANDB_MODE": "offline"}, True),
        ("auto", {"WANDB_MODE": "disabled"}, False),
        ("offline", {}, True),
        ("online", {}, True),
        ("off", {"WANDB_MODE": "online"}, False),
    ],
)
def test_whether_wandb_was_asked_for(choice, env, asked):
    """Only an explicit --wandb online|offline or a logging WANDB_MODE counts as asking for W&B."""
    assert wandb_asked_for(choice, env) is asked
