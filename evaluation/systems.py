"""Everything that answers the task is one kind of object, a ``System``: given the rows of a split, it returns
each row's raw answer text, with timing and notes. The rest of ``evaluate`` does not care which it was.

    our models       a RUN dir, a model dir, a preset or a hub id of Phi-3-Vision (evaluation.model)
    baselines        majority, nearest, probe, oracle (evaluation.baselines)
    hf:ID_OR_DIR     any transformers vision-language model (evaluation.hf)
    openai:NAME      an OpenAI-compatible chat endpoint (evaluation.endpoint)
    recorded         the answers a predictions.jsonl holds (evaluation.outputs, for --from-predictions)

``resolve_systems`` turns every ``--model`` and the ``--baselines`` into systems once, with the checks that
need no heavy work (paths, prompt file, device). ``prepare`` then does the heavy set-up and the remaining
checks (weights, a server's reachability) before any system answers a row; ``answer`` answers them all.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contracts.errors import UserError
from contracts.task import FOREIGN_PROMPT

if TYPE_CHECKING:
    from evaluation.config import EvalConfig
    from evaluation.data import EvalSet

HF_PREFIX = "hf:"
OPENAI_PREFIX = "openai:"

Progress = Callable[[int], None]


@dataclass
class Answers:
    """One system's answers to every row of an ``EvalSet``, in row order."""

    texts: list[str | None]  # None: the row went unanswered (its reason in ``reasons``)
    seconds: float
    reasons: dict[int, str] = field(default_factory=dict)  # row index -> why it went unanswered
    notes: list[str] = field(default_factory=list)
    speed: dict[str, Any] = field(
        default_factory=dict
    )  # figures for metrics.json (device, batch, cache hits…)

    @property
    def answered(self) -> int:
        return sum(t is not None for t in self.texts)


class System:
    """The interface every answering thing implements (a base class only for the defaults)."""

    name: str = ""
    info: dict[str, Any]  # what metrics.json records: name, kind, spec, path, run, decoding, …
    optional: bool = False  # a baseline named by --baselines: skipped with a note where it cannot run
    shards: bool = False  # answers its share of the rows on each process under torchrun

    def prepare(self, data: EvalSet) -> None:
        """Heavy set-up and the checks that need it, before any row is asked (loading weights, reaching a
        server). Raises UserError where the system cannot answer."""

    def answer(
        self, data: EvalSet, *, progress: Progress | None = None, max_new_tokens: int | None = None
    ) -> Answers:
        """Each row's raw answer, in row order (``max_new_tokens``: a limit instead of the system's own)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what ``prepare`` took (clients, caches)."""


class Recorded(System):
    """A system's answers as a predictions.jsonl recorded them (``--from-predictions``): nothing is asked."""

    def __init__(self, info: dict[str, Any], rows: list[dict]) -> None:
        self.info, self.name = dict(info), info["name"]
        self.texts = [row["answers"].get(self.name) for row in rows]
        self.reasons = {i: (row.get("unanswered") or {}).get(self.name) or "unanswered"
                        for i, row in enumerate(rows) if row["answers"].get(self.name) is None}  # fmt: skip
        self.speed = dict(self.info.pop("speed", None) or {})

    def answer(
        self, data: EvalSet, *, progress: Progress | None = None, max_new_tokens: int | None = None
    ) -> Answers:
        if progress is not None:
            progress(len(self.texts))
        seconds = self.speed.pop("seconds", None) or self.info.pop("seconds", None) or 0.0
        self.speed.pop("samples_per_s", None)
        return Answers(texts=list(self.texts), seconds=seconds, reasons=dict(self.reasons), speed=self.speed)


def resolve_systems(cfg: EvalConfig, procs: Any = None) -> list[System]:
    """The systems ``--model`` (each, in order) and ``--baselines`` name; a baseline given as a model is not
    added twice. Names are made unique.

    Raises:
        UserError: a spec that names nothing loadable, an unreadable or empty ``--prompt`` file, a device that
            is not there, an ``hf:`` dir without processor files.
    """
    from evaluation import baselines

    _refuse_inapplicable(cfg)
    prompt = read_prompt(cfg.prompt) if any(_foreign(s) for s in cfg.model) else FOREIGN_PROMPT
    features = baselines.ImageFeatures(quiet=cfg.quiet)
    systems: list[System] = []
    for spec in cfg.model:
        if spec.startswith(HF_PREFIX):
            from evaluation.hf import TransformersModel

            systems.append(TransformersModel(spec[len(HF_PREFIX) :], cfg, prompt))
        elif spec.startswith(OPENAI_PREFIX):
            from evaluation.endpoint import Endpoint

            systems.append(Endpoint(spec[len(OPENAI_PREFIX) :], cfg, prompt))
        elif spec in baselines.BASELINES:
            systems.append(baselines.baseline_system(spec, features, seed=cfg.seed))
        else:
            from evaluation.model import OurModel

            systems.append(OurModel(spec, cfg, procs))
    taken = {s.info.get("spec") for s in systems}
    for name in cfg.baseline_names():
        if name not in taken:
            systems.append(baselines.baseline_system(name, features, seed=cfg.seed, optional=True))
    unique_names(systems)
    return systems


def _foreign(spec: str) -> bool:
    return spec.startswith((HF_PREFIX, OPENAI_PREFIX))


def _refuse_inapplicable(cfg: EvalConfig) -> None:
    """Flags of foreign models given without one: refused, rather than silently ignored."""
    flags = (
        ("--base-url", cfg.base_url, (OPENAI_PREFIX,)),
        ("--prompt", cfg.prompt, (HF_PREFIX, OPENAI_PREFIX)),
        ("--trust-remote-code", cfg.trust_remote_code, (HF_PREFIX,)),
    )
    for flag, value, prefixes in flags:
        if value and not any(spec.startswith(prefixes) for spec in cfg.model):
            kinds = " or ".join(f"{p}..." for p in prefixes)
            raise UserError(f"{flag} cannot apply: no --model {kinds} is evaluated; drop {flag}")


def read_prompt(path: str | None) -> str:
    """The prompt of foreign models: the ``--prompt`` file's text, or the task's question and format.

    Raises:
        UserError: the file cannot be read, or holds nothing but white space.
    """
    if path is None:
        return FOREIGN_PROMPT
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read --prompt {path} ({exc}): give a UTF-8 text file") from None
    if not text.strip():
        raise UserError(f"--prompt {path} is empty: write the prompt into it, or drop --prompt")
    return text.strip()


def unique_names(systems: list[System]) -> None:
    """Give systems that share a name a suffix (" (2)", " (3)", …) so every answer column is named once."""
    seen: dict[str, int] = {}
    for system in systems:
        n = seen.get(system.name, 0) + 1
        seen[system.name] = n
        if n > 1:
            system.name = f"{system.name} ({n})"
            system.info["name"] = system.name


@contextlib.contextmanager
def loading_bars(quiet: bool) -> Iterator[None]:
    """transformers' weight-loading bar, silenced with ``--quiet`` and when stderr is not a terminal."""
    import sys

    from transformers.utils import logging as hf_logging

    silence = (quiet or not sys.stderr.isatty()) and hf_logging.is_progress_bar_enabled()
    if silence:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if silence:
            hf_logging.enable_progress_bar()


def progress_bar(total: int, desc: str, quiet: bool):
    """A tqdm bar over ``total`` items, silent with ``--quiet`` and when stderr is not a terminal."""
    import sys

    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="item", disable=quiet or not sys.stderr.isatty(), leave=False)
