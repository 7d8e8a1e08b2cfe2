"""`serve` command line. Thin: flags -> ServeConfig -> evaluation.serve.

serve --model RUN [--port 8000] [--host 127.0.0.1] [--name NAME]
"""

from __future__ import annotations

from dataclasses import MISSING, fields

import click

from contracts.errors import run_cli
from evaluation.config import CHECKPOINTS, DEVICES, DTYPES, MIRROR_MODES, ServeConfig

_FIELDS = {f.name: f for f in fields(ServeConfig)}


def _option(name: str, **kwargs):
    """A click option for ServeConfig field ``name``: same name, default and help as the dataclass."""
    f = _FIELDS[name]
    default = None if f.default is MISSING else f.default
    kwargs.setdefault("default", default)
    kwargs.setdefault("show_default", default is not None and not kwargs.get("is_flag"))
    return click.option("--" + name.replace("_", "-"), name, help=f.metadata["help"], **kwargs)


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.help_option("-h", "--help", help="show this message and exit")
@_option("model")
@_option("host")
@_option("port", type=click.IntRange(0, 65535))
@_option("name")
@_option("data", type=click.Path(file_okay=False))
@_option("checkpoint", type=click.Choice(CHECKPOINTS))
@_option("batch_size", type=click.IntRange(min=1))
@_option("batch_wait_ms", type=click.FloatRange(min=0))
@_option("max_new_tokens", type=click.IntRange(min=0))
@_option("num_crops", type=click.IntRange(min=0))
@_option("mirror", type=click.Choice(MIRROR_MODES))
@_option("device", type=click.Choice(DEVICES))
@_option("dtype", type=click.Choice(DTYPES))
@_option("threads", type=click.IntRange(min=0))
@_option("compile", is_flag=True)
@_option("prompt", type=click.Path(dir_okay=False))
@_option("trust_remote_code", is_flag=True)
@_option("quiet", is_flag=True)
def command(**kwargs) -> None:
    """Serve a model at /v1/models and /v1/chat/completions, OpenAI's request and response shapes (images as
    data URLs), so that `evaluate --model openai:NAME --base-url URL` and any OpenAI client can ask it.

    \b
    serve --model runs/r1                          # http://127.0.0.1:8000/v1, model id "r1"
    serve --model runs/r1 --port 9000 --name mine
    serve --model hf:HuggingFaceTB/SmolVLM-256M-Instruct

    The model answers the task's question about the request's image, as inside evaluate.
    """
    cfg = ServeConfig(**kwargs)
    from evaluation.serve import build_server

    server = build_server(cfg)
    click.echo(f"serving {server.name!r} at {server.url} (Ctrl-C stops)", err=True)
    server.run()


def main() -> None:
    run_cli(command)


if __name__ == "__main__":
    main()
