"""`evaluate` command line. Thin: flags -> config -> library function.

evaluate --model RUN|PRESET|BASELINE|hf:ID|openai:NAME [--model ...] --data DATASET --report OUT/
evaluate --from-predictions OUT/predictions.jsonl --report OUT2/report.html
evaluate compare OUT_A OUT_B … --report cmp.html
"""

from __future__ import annotations

from dataclasses import MISSING, fields

import click
from click.core import ParameterSource

from contracts.errors import UserError, run_cli
from contracts.tracking import WANDB_CHOICES
from evaluation.config import (
    CHECKPOINTS,
    DEVICES,
    DTYPES,
    MIRROR_MODES,
    CompareConfig,
    EvalConfig,
)

_FIELDS = {f.name: f for f in fields(EvalConfig)}


def _default(name: str):
    f = _FIELDS[name]
    return None if f.default is MISSING else f.default


def _help(name: str) -> str:
    return _FIELDS[name].metadata["help"]


def _option(name: str, **kwargs):
    """A click option for EvalConfig field ``name``: same name, default and help as the dataclass."""
    flag = "--" + name.replace("_", "-")
    kwargs.setdefault("default", _default(name))
    kwargs.setdefault("show_default", _default(name) is not None)
    return click.option(flag, name, help=_help(name), **kwargs)


def format_summary(doc: dict) -> str:
    """A plain-text table of the headline metrics: one column per system, the first --model first."""
    from contracts.metrics import METRICS
    from reports.html import format_value

    systems = [(s["name"], s["metrics"]) for s in doc["systems"]]
    width = max(len(m.label) for m in METRICS) + 2
    cols = [max(12, len(name) + 2) for name, _ in systems]
    lines = ["".ljust(width) + "".join(name.rjust(c) for (name, _), c in zip(systems, cols, strict=True))]
    for spec in METRICS:
        cells = [format_value(m.get(spec.name, {}).get("value"), spec.fmt) for _, m in systems]
        arrow = "↑" if spec.higher_is_better else "↓"
        lines.append(
            f"{spec.label} {arrow}".ljust(width)
            + "".join(v.rjust(c) for v, c in zip(cells, cols, strict=True))
        )
    return "\n".join(lines)


HELP = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


def _help_option():
    return click.help_option("-h", "--help", help="show this message and exit")


@click.group(invoke_without_command=True, no_args_is_help=True, context_settings=HELP)
@_help_option()
@_option("model", multiple=True, show_default=False)
@_option("data", type=click.Path(file_okay=False))
@_option("split")
@_option("report", type=click.Path())
@_option("checkpoint", type=click.Choice(CHECKPOINTS))
@_option("baselines")
@_option("batch_size", type=click.IntRange(min=1))
@_option("max_new_tokens", type=click.IntRange(min=0))
@_option("num_crops", type=click.IntRange(min=0))
@_option("mirror", type=click.Choice(MIRROR_MODES))
@_option("limit", type=click.IntRange(min=0))
@_option("bootstrap", type=click.IntRange(min=0))
@_option("seed", type=int)
@_option("gallery", type=click.IntRange(min=0))
@_option("device", type=click.Choice(DEVICES))
@_option("dtype", type=click.Choice(DTYPES))
@_option("threads", type=click.IntRange(min=0))
@_option("compile", is_flag=True, default=False, show_default=False)
@_option("prompt", type=click.Path(dir_okay=False))
@_option("trust_remote_code", is_flag=True, default=False, show_default=False)
@_option("base_url")
@_option("concurrency", type=click.IntRange(min=1))
@_option("request_timeout", type=click.FloatRange(min=0, min_open=True))
@_option("retries", type=click.IntRange(min=0))
@_option("no_cache", is_flag=True, default=False, show_default=False)
@_option("cache_dir", type=click.Path(file_okay=False))
@_option("from_predictions", type=click.Path(dir_okay=True))
@_option("wandb", type=click.Choice(WANDB_CHOICES))
@click.option("--no-wandb", "wandb", flag_value="off", help="the same as --wandb off")
@_option("wandb_project")
@_option("overwrite", is_flag=True, default=False, show_default=False)
@_option("quiet", is_flag=True, default=False, show_default=False)
@click.pass_context
def group(ctx: click.Context, **kwargs) -> None:
    """Score models, foreign models, endpoints and the built-in baselines on a DATASET split, all on the same
    rows; write an offline HTML report.

    \b
    evaluate --model runs/r1 --data out/data --report out/eval/report.html
    evaluate --model runs/r1 --model runs/r2 --model hf:HuggingFaceTB/SmolVLM-256M-Instruct --data out/data
    evaluate --model openai:NAME --base-url http://127.0.0.1:8000/v1 --data out/data --concurrency 16
    evaluate --model majority --data out/data          (a baseline is a system too; prints metrics)
    evaluate --from-predictions out/eval/predictions.jsonl --report out/eval2/
    evaluate compare out/eval out/eval-b --report out/compare.html

    --model (repeatable) takes a RUN dir (RUN/model, or RUN/best with --checkpoint best), a preset (tiny,
    phi3v, phi3v-random), a model dir or hub id, hf:ID_OR_DIR, openai:NAME, or a baseline (majority,
    nearest, probe, oracle). The report writes report.html, metrics.json and predictions.jsonl into one
    dir, all or nothing. Settings come from the flags' defaults below, overridden by the flags given.
    """
    if ctx.invoked_subcommand is not None:
        typed = ParameterSource.COMMANDLINE
        given = {p.name: p.opts[0] for p in ctx.command.params
                 if p.name in kwargs and ctx.get_parameter_source(p.name) == typed}  # fmt: skip
        if given:
            sub = ctx.invoked_subcommand
            raise UserError(
                f"{', '.join(given.values())} cannot apply to `evaluate {sub}`: drop them (its own options "
                f"come after the subcommand: evaluate {sub} --help)"
            )
        return
    cfg = EvalConfig(**kwargs)  # bad settings are told before torch loads (with evaluation.run)
    from evaluation.run import evaluate

    result = evaluate(cfg)
    if result is None:  # a process other than the first under torchrun: the first one reports
        return
    doc = result.document
    names = ", ".join(s["name"] for s in doc["systems"])
    click.echo(f"{names} on {doc['split']} ({doc['n']} items)")
    click.echo(format_summary(doc))
    for note in doc.get("notes", []):
        click.echo(f"note: {note}", err=True)
    speed = doc.get("speed") or {}
    if speed.get("samples_per_s"):
        click.echo(f"speed: {speed['samples_per_s']:.2f} samples/s ({speed.get('seconds', 0):.1f} s)")
    if result.paths is not None:
        click.echo(f"report: {result.paths.report}")
    if result.wandb_dir:
        click.echo(f"wandb: {result.wandb_dir}")


_CMP = {f.name: f for f in fields(CompareConfig)}


def _cmp_option(name: str, **kwargs):
    """A click option for CompareConfig field ``name``: same name, default and help as the dataclass."""
    f = _CMP[name]
    default = None if f.default is MISSING else f.default
    kwargs.setdefault("default", default)
    kwargs.setdefault("show_default", default is not None and not kwargs.get("is_flag"))
    return click.option("--" + name.replace("_", "-"), name, help=f.metadata["help"], **kwargs)


@group.command("compare", context_settings=HELP)
@_help_option()
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@_cmp_option("report", type=click.Path())
@_cmp_option("reference")
@click.option("--baselines/--no-baselines", "baselines", default=True, show_default=True,
              help=_CMP["baselines"].metadata["help"])  # fmt: skip
@_cmp_option("rank_by")
@_cmp_option("bootstrap", type=int)
@_cmp_option("seed", type=int)
@_cmp_option("alpha", type=float)
@_cmp_option("overwrite", is_flag=True, default=False)
def compare_command(inputs: tuple[str, ...], **kwargs) -> None:
    """Compare evaluations of the same rows: a leaderboard, paired differences and verdicts.

    \b
    evaluate compare out/eval                        (the model against its baselines)
    evaluate compare out/eval out/eval1 --report out/cmp/

    INPUTS are REPORT dirs (or their report.html or metrics.json), each with its predictions.jsonl. The
    first input's model is the reference (--reference NAME to choose another); the first input's baselines
    join as systems. Inputs scored on other rows (dataset, split, --limit) are refused. With --report,
    compare.html, comparison.json and comparison.md are written together.
    """
    from evaluation.compare import compare
    from evaluation.comparison_text import to_terminal

    result = compare(CompareConfig(inputs=inputs, **kwargs))
    click.echo(to_terminal(result.comparison))
    if result.paths is not None:
        click.echo(f"report: {result.paths.html}")
        click.echo(f"json: {result.paths.json}")
        click.echo(f"markdown: {result.paths.markdown}")


def main() -> None:
    run_cli(group)


if __name__ == "__main__":
    main()
