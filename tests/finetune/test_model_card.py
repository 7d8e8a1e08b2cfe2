"""The model card of RUN/model and RUN/best: the hub's YAML header, training settings, the dataset's
fingerprint and the validation figures, from what the RUN records."""

from __future__ import annotations

import json

import pytest

from contracts import run_layout as names
from finetune import model_card
from finetune.config import TrainConfig, resolve
from finetune.loop import train
from finetune.model_card import ModelCard, card_for_run, front_matter, render, run_figures
from finetune.tracking import read_metrics
from phi3v.presets import HUB_ID

RECORDS = [
    {"step": 0, "split": "encoder_warmup", "epoch": 1, "loss": 2.0, "val_accuracy": 0.5},
    {"step": 2, "split": "train", "loss": 1.5, "epoch": 0.5},
    {"step": 2, "split": "validation", "loss": 1.25, "epoch": 0.5},
    {"step": 4, "split": "train", "loss": 1.1, "epoch": 1.0},
    {"step": 4, "split": "validation", "loss": 1.375, "epoch": 1.0},
]


def test_run_figures_from_metrics():
    """Best validation loss and its step, the last validation and training losses, the warm-up's accuracy."""
    assert run_figures(RECORDS) == {
        "validations": 2,
        "best_val_loss": 1.25,
        "best_step": 2,
        "best_metric": "val_loss",
        "last_val_loss": 1.375,
        "last_val_step": 4,
        "train_loss": 1.1,
        "train_step": 4,
        "epoch": 1.0,
        "encoder_val_accuracy": 0.5,
    }
    assert run_figures([]) == {"validations": 0}


def test_card_header_and_body():
    """The YAML header names base, data, library, licence and pipeline; the body the fingerprint, the
    validation figures and every training setting."""
    card = ModelCard(
        kind=names.BEST_DIR,
        base_model=HUB_ID,
        base_label=HUB_ID,
        license="mit",
        datasets=("DBQ/Burberry.Product.prices.United.States",),
        data_label="imported",
        fingerprint="ab" * 32,
        rows={"train": 8, "validation": 2},
        settings={"method": "lora", "lr": 0.0002, "lora_rank": 64},
        figures=run_figures(RECORDS),
        versions={"transformers": "5.0"},
    )
    text = render(card)
    assert front_matter(text) == {
        "base_model": HUB_ID,
        "datasets": ["DBQ/Burberry.Product.prices.United.States"],
        "library_name": "transformers",
        "license": "mit",
        "pipeline_tag": "image-text-to-text",
        "tags": ["phi3_v", "vision", "fine-tuned", "lora"],
    }
    assert "ab" * 32 in text and "| validation loss of the best | 1.25 |" in text
    assert "| lora_rank | 64 |" in text and "| lr | 0.0002 |" in text
    assert "lowest validation loss" in text and "train 8, validation 2" in text


def test_base_licence_from_its_card_or_known(tmp_path):
    """The licence comes from the base folder's card; the published model's is known without it."""
    (tmp_path / "README.md").write_text("---\nlicense: apache-2.0\n---\n# a model\n")
    assert model_card._base("x", None, tmp_path) == ("the local model `" + tmp_path.name + "`", "apache-2.0")
    assert model_card._base("phi3v", HUB_ID, None)[1] == "mit"
    assert model_card._base("tiny", None, None) == ("a random initialisation (preset `tiny`)", None)


def test_real_data_names_its_hub_dataset(tmp_path):
    """A DATASET imported from the hub names it in `datasets`; synthetic data names none."""
    info = {"generator": "datagen real", "version": "0.1", "source": {"kind": "hub", "dataset": "a/b"}}
    (tmp_path / "dataset_info.json").write_text(json.dumps(info))
    label, datasets = model_card._data_source(tmp_path)
    assert datasets == ("a/b",) and "`a/b`" in label
    (tmp_path / "dataset_info.json").write_text(json.dumps({"generator": "datagen synth", "seed": 3}))
    assert model_card._data_source(tmp_path)[1] == ()


@pytest.mark.slow
def test_exports_carry_a_card_from_the_run(fast_config):
    """RUN/model and RUN/best get README.md with the header, the dataset's fingerprint and the run's best
    validation loss; their config.json names no code they do not hold."""
    cfg: TrainConfig = fast_config(eval_every=2)
    run = train(cfg).run_dir
    fingerprint = json.loads((run / names.DATASET_FILE).read_text())["fingerprint"]
    best = min(r["loss"] for r in read_metrics(run) if r["split"] == "validation")
    for kind in (names.MODEL_DIR, names.BEST_DIR):
        text = (run / kind / model_card.CARD_FILE).read_text()
        header = front_matter(text)
        assert header["library_name"] == "transformers" and header["pipeline_tag"] == "image-text-to-text"
        assert "base_model" not in header and "license" not in header  # the tiny preset starts at random
        assert fingerprint in text and f"| validation loss of the best | {best:.4g} |" in text
        config = json.loads((run / kind / "config.json").read_text())
        assert "auto_map" not in config and not list((run / kind).glob("*.py"))
        tokenizer = json.loads((run / kind / "tokenizer_config.json").read_text())
        assert tokenizer["tokenizer_class"] == "LlamaTokenizer"
    resolved = resolve(cfg)  # what the run exported with
    again = card_for_run(run, resolved, names.MODEL_DIR, base_id=None, base_folder=None, remote_code=False)
    assert render(again) == (run / names.MODEL_DIR / model_card.CARD_FILE).read_text()
