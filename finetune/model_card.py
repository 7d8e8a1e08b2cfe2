"""The model card (README.md) of RUN/model and RUN/best: the hub's YAML header, then how the model was
trained, on which data and how it did in validation, from what the RUN dir records.

`ModelCard` holds the facts and `render` turns them into text (pure); `card_for_run` gathers them from the
RUN dir and the DATASET dir it names; `write_card` does both into an export dir.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from contracts import run_layout as names
from contracts.metrics import METRICS_BY_NAME
from finetune.config import VAL_LOSS, TrainConfig
from finetune.recipe import RECIPE_FIELDS
from finetune.tracking import WARMUP_SPLIT, read_metrics
from phi3v.chat import build_prompt
from phi3v.presets import HUB_ID

CARD_FILE = "README.md"
LIBRARY_NAME = "transformers"
PIPELINE_TAG = "image-text-to-text"
LICENSES = {HUB_ID: "mit"}  # licences of known bases, for when the base's own card is not at hand


@dataclass(frozen=True)
class ModelCard:
    """What a card says about one exported model."""

    kind: str  # names.MODEL_DIR or names.BEST_DIR
    base_model: str | None  # hub id of the base; None for a random start or a local dir
    base_label: str  # the base in words
    license: str | None
    datasets: tuple[str, ...]  # hub ids of the data (real imports); none for synthetic data
    data_label: str  # how the data was made
    fingerprint: str | None
    rows: dict[str, int]
    settings: dict[str, Any]  # the recipe's fields, resolved
    figures: dict[str, Any]  # validation and training figures (`run_figures`)
    versions: dict[str, Any] = field(default_factory=dict)
    remote_code: bool = False  # the model's code files lie beside config.json (its auto_map)


def front_matter(text: str) -> dict[str, Any]:
    """The YAML header of a card (between the leading `---` lines), {} when there is none or it is broken."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---" or "---" not in (s.strip() for s in lines[1:]):
        return {}
    end = next(i for i, s in enumerate(lines[1:], start=1) if s.strip() == "---")
    try:
        data = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def run_figures(records: list[dict[str, Any]], best_metric: str = VAL_LOSS) -> dict[str, Any]:
    """Best and last validation loss, last training loss and steps, from RUN/metrics.jsonl's records.
    The best validation is the one RUN/best keeps: by ``best_metric`` (its direction), the earliest of a tie;
    a validation without the metric only when none has it."""
    val = [r for r in records if r.get("split") == "validation" and r.get("loss") is not None]
    train = [r for r in records if r.get("split") == "train" and r.get("loss") is not None]
    warmup = [r for r in records if r.get("split") == WARMUP_SPLIT and r.get("val_accuracy") is not None]
    figures: dict[str, Any] = {"validations": len(val)}
    if val:
        key = "loss" if best_metric == VAL_LOSS else best_metric
        sign = -1.0 if best_metric != VAL_LOSS and METRICS_BY_NAME[best_metric].higher_is_better else 1.0
        measured = [r for r in val if isinstance(r.get(key), int | float)] or val
        best = min(measured, key=lambda r: (sign * r[key] if r.get(key) is not None else 0.0, r["step"]))
        figures |= {"best_val_loss": best["loss"], "best_step": best["step"], "best_metric": best_metric}
        if best_metric != VAL_LOSS:
            figures["best_value"] = best.get(best_metric)
        figures |= {"last_val_loss": val[-1]["loss"], "last_val_step": val[-1]["step"]}
    if train:
        figures |= {"train_loss": train[-1]["loss"], "train_step": train[-1]["step"]}
        figures["epoch"] = train[-1].get("epoch")
    if warmup:
        figures["encoder_val_accuracy"] = warmup[-1]["val_accuracy"]
    return figures


def _data_source(path: Path) -> tuple[str, tuple[str, ...]]:
    """(how the data was made, hub ids it came from), from the DATASET dir's dataset_info.json."""
    try:
        info = json.loads((path / "dataset_info.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return f"the DATASET dir `{path.name}`", ()
    made_by = f"`{info.get('generator', 'unknown')}` {info.get('version', '')}".rstrip()
    source = info.get("source") if isinstance(info.get("source"), dict) else {}
    if source.get("kind") == "hub":
        revision = f", revision `{source['revision']}`" if source.get("revision") else ""
        label = f"imported by {made_by} from the Hugging Face dataset `{source['dataset']}`{revision}"
        return label, (str(source["dataset"]),)
    if source.get("kind") == "file":
        return f"imported by {made_by} from a local file (sha256 `{source.get('sha256')}`)", ()
    return f"synthetic, made by {made_by} with seed {info.get('seed')}", ()


def _base(spec: str, base_id: str | None, folder: Path | None) -> tuple[str, str | None]:
    """(the base in words, its licence): the licence from the base's own card, else a known one."""
    license_ = None
    if folder is not None and (folder / CARD_FILE).is_file():
        text = (folder / CARD_FILE).read_text(encoding="utf-8", errors="replace")
        license_ = front_matter(text).get("license")
    license_ = license_ or LICENSES.get(base_id or "")
    if base_id:
        return f"[{base_id}](https://huggingface.co/{base_id})", license_
    if folder is not None:
        return f"the local model `{folder.name}`", license_
    return f"a random initialisation (preset `{spec}`)", license_


def card_for_run(
    run_dir: Path,
    cfg: TrainConfig,
    kind: str,
    *,
    base_id: str | None,
    base_folder: Path | None,
    remote_code: bool,
) -> ModelCard:
    """The card of `run_dir`'s export `kind` (RUN/model or RUN/best), from RUN/dataset.json,
    RUN/config.json and RUN/metrics.jsonl as they are now."""

    def read(name: str) -> dict[str, Any]:
        try:
            return json.loads((run_dir / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    dataset = read(names.DATASET_FILE)
    data_label, datasets = _data_source(Path(dataset.get("path") or cfg.data))
    base_label, license_ = _base(cfg.model, base_id, base_folder)
    return ModelCard(
        kind=kind,
        base_model=base_id,
        base_label=base_label,
        license=license_,
        datasets=datasets,
        data_label=data_label,
        fingerprint=dataset.get("fingerprint"),
        rows=dict(dataset.get("rows") or {}),
        settings={name: getattr(cfg, name) for name in RECIPE_FIELDS},
        figures=run_figures(read_metrics(run_dir), cfg.best_metric),
        versions=read(names.CONFIG_FILE).get("versions") or {},
        remote_code=remote_code,
    )


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "–" if value is None or value == "" else str(value)


def _kind(card: ModelCard) -> str:
    if card.kind == names.BEST_DIR:
        step = _value(card.figures.get("best_step"))
        metric = card.figures.get("best_metric", VAL_LOSS)
        if metric != VAL_LOSS:
            return f"the weights of the run's best validation {metric} (`--best-metric`, step {step})"
        return f"the weights of the run's lowest validation loss (step {step})"
    return "the final weights of the run"


def render(card: ModelCard) -> str:
    """README.md text of `card`: the hub's YAML header (base_model, datasets, library_name, license,
    pipeline_tag, tags), then the weights, data, validation figures, training settings and how to load it."""
    header: dict[str, Any] = {}
    if card.base_model:
        header["base_model"] = card.base_model
    if card.datasets:
        header["datasets"] = list(card.datasets)
    header["library_name"] = LIBRARY_NAME
    if card.license:
        header["license"] = card.license
    header["pipeline_tag"] = PIPELINE_TAG
    header["tags"] = ["phi3_v", "vision", "fine-tuned", str(card.settings.get("method", ""))]
    f, s = card.figures, card.settings
    lines = [
        "---",
        yaml.safe_dump(header, sort_keys=False, allow_unicode=True).rstrip(),
        "---",
        "",
        "# Phi-3-Vision fine-tuned to read product photos",
        "",
        f"Fine-tuned (method `{s.get('method')}`) from {card.base_label} to answer, from a product photo "
        f"alone, with its title, category and full price. These are {_kind(card)}.",
        "",
        "The prompt it was trained on, and the answer's form (the tokenizer's chat template gives the same "
        "prompt):",
        "",
        "```",
        build_prompt() + "Product: {title}, Category: {category3_code}, Full Price: {full_price}<|end|>",
        "```",
        "",
        "## Data",
        "",
        f"- {card.data_label}",
        f"- fingerprint (sha256 of the split metadata and dataset_info.json): `{_value(card.fingerprint)}`",
        "- rows: " + (", ".join(f"{k} {v}" for k, v in card.rows.items()) or "–"),
        "",
        "## Validation",
        "",
        "| figure | value |",
        "|---|---|",
        f"| kept as best by (`--best-metric`) | {_value(f.get('best_metric'))} |",
        *(
            [f"| best validation {f['best_metric']} | {_value(f.get('best_value'))} |"]
            if f.get("best_metric", VAL_LOSS) != VAL_LOSS
            else []
        ),
        f"| validation loss of the best | {_value(f.get('best_val_loss'))} |",
        f"| step of the best | {_value(f.get('best_step'))} |",
        f"| last validation loss | {_value(f.get('last_val_loss'))} "
        f"(step {_value(f.get('last_val_step'))}) |",
        f"| last training loss | {_value(f.get('train_loss'))} (step {_value(f.get('train_step'))}) |",
        f"| epochs trained | {_value(f.get('epoch'))} |",
        f"| validations | {_value(f.get('validations'))} |",
    ]
    if f.get("encoder_val_accuracy") is not None:
        lines.append(f"| encoder warm-up category accuracy | {_value(f['encoder_val_accuracy'])} |")
    lines += ["", "## Training settings", "", "| setting | value |", "|---|---|"]
    lines += [f"| {k} | {_value(v)} |" for k, v in s.items()]
    if card.versions:
        lines += ["", "Trained with " + ", ".join(f"{k} {v}" for k, v in card.versions.items() if v) + "."]
    lines += [
        "",
        "## Loading",
        "",
        "- With the project that trained it: `phi3v.loading.load_model(DIR)`, or `evaluate --model DIR`.",
        "- Tokenizer and processor files are in the published checkpoint's form: `AutoTokenizer` of "
        "transformers 4.x and 5.x loads them.",
    ]
    if card.remote_code:
        lines.append(
            "- The model's code files are here: on transformers 4.x, `AutoModelForCausalLM` and "
            "`AutoProcessor` load it with `trust_remote_code=True`."
        )
    else:
        lines.append(
            "- The weights keep the published checkpoint's parameter names: with the base model's code "
            "files beside them (and `auto_map` in config.json) transformers 4.x loads them with "
            "`trust_remote_code`."
        )
    return "\n".join(lines) + "\n"


def write_card(directory: Path, card: ModelCard) -> None:
    """Write `card` as README.md into `directory` (a temporary file renamed into place)."""
    tmp = directory / f".{CARD_FILE}.tmp"
    tmp.write_text(render(card), encoding="utf-8")
    tmp.replace(directory / CARD_FILE)
