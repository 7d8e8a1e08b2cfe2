"""Exports of a run: RUN/model and RUN/best carry the base's code files, auto_map and licence."""

from __future__ import annotations

import json

import pytest

from phi3v.loading import load_model
from tests.phi3v.test_export_format import CODE, _export, _read


@pytest.fixture(scope="module")
def tiny():
    return load_model("tiny", seed=0)


@pytest.mark.slow
def test_run_from_a_base_with_code_exports_it(tiny, tmp_path, fast_config, published_phi3v):
    """Fine-tuning a local model whose folder holds its code files: RUN/model and RUN/best get the files, the
    base's auto_map, and a card with the base's licence saying so."""
    from finetune import model_card
    from finetune.loop import train

    base = tmp_path / "base"
    _export(tiny, base, None)
    for name, text in CODE.items():
        (base / name).write_text(text)
    files = ("config.json", "preprocessor_config.json")
    published = {name: _read(published_phi3v / name)["auto_map"] for name in files}
    for name, auto_map in published.items():
        (base / name).write_text(json.dumps({**_read(base / name), "auto_map": auto_map}))
    (base / "README.md").write_text("---\nlicense: mit\n---\n")
    run = train(fast_config(model=str(base), max_steps=2)).run_dir
    for kind in ("model", "best"):
        out = run / kind
        assert {name: _read(out / name).get("auto_map") for name in published} == published
        assert sorted(p.name for p in out.glob("*.py")) == sorted(CODE)
        card = (out / model_card.CARD_FILE).read_text()
        assert model_card.front_matter(card)["license"] == "mit" and "trust_remote_code=True" in card
