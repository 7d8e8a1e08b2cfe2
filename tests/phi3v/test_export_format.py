"""Saved models in the published checkpoint's form: every key of the published files, the real tokenizer
byte for byte, `auto_map` only beside its code files, and a chat template that gives the training prompt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from contracts.task import QUESTION, build_answer
from phi3v.chat import IMAGE_TAG, build_prompt
from phi3v.export_format import finish_export, legacy_tokenizer_json
from phi3v.loading import load_model
from phi3v.processing import Phi3VProcessor

# config.json keys that record how a file was made, not the model: the rest is the architecture
NOT_ARCHITECTURE = {"_name_or_path", "_attn_implementation", "auto_map"}
ANSWER = build_answer("Check Cashmere Scarf", "SCARVES", 590.0)
# The upstream repository's code files and their relative imports (contents are stand-ins).
CODE = {
    "configuration_phi3_v.py": "class Phi3VConfig: ...\n",
    "modeling_phi3_v.py": "from .configuration_phi3_v import Phi3VConfig\n"
    "from .image_embedding_phi3_v import Phi3ImageEmbedding\n",
    "image_embedding_phi3_v.py": "class Phi3ImageEmbedding: ...\n",
    "processing_phi3_v.py": "from .image_processing_phi3_v import Phi3VImageProcessor\n",
    "image_processing_phi3_v.py": "class Phi3VImageProcessor: ...\n",
}


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tiny():
    return load_model("tiny", seed=0)


def _export(tiny, dest: Path, base: Path | None) -> bool:
    model, processor = tiny
    model.save_pretrained(dest)
    processor.save_pretrained(dest)
    return finish_export(dest, base)


def test_export_holds_every_published_key(tiny, tmp_path, published_phi3v):
    """tokenizer_config, special_tokens_map and preprocessor_config hold every published key (auto_map with
    the base's code beside it), config.json every architecture key; the class is the published one."""
    base = published_phi3v
    for name, text in CODE.items():
        (base / name).write_text(text)
    out = tmp_path / "export"
    assert _export(tiny, out, base)
    for name in ("tokenizer_config.json", "special_tokens_map.json", "preprocessor_config.json"):
        missing = set(_read(published_phi3v / name)) - set(_read(out / name))
        assert not missing, f"{name} lacks {sorted(missing)}"
    config = _read(out / "config.json")
    missing = set(_read(published_phi3v / "config.json")) - NOT_ARCHITECTURE - set(config)
    assert not missing, f"config.json lacks {sorted(missing)}"
    assert config["auto_map"] == _read(published_phi3v / "config.json")["auto_map"]
    assert (
        _read(out / "preprocessor_config.json")["auto_map"]
        == _read(base / "preprocessor_config.json")["auto_map"]
    )
    assert sorted(p.name for p in out.glob("*.py")) == sorted(CODE)
    assert _read(out / "tokenizer_config.json")["tokenizer_class"] == "LlamaTokenizer"
    assert config["torch_dtype"] == config["dtype"]
    # still ours: loads back and encodes the same
    _, again = load_model(str(out))
    image = Image.new("RGB", (90, 60), (10, 20, 30))
    assert again.encode_example(image, ANSWER)["input_ids"].tolist() == (
        tiny[1].encode_example(image, ANSWER)["input_ids"].tolist()
    )


@pytest.mark.parametrize("code", ["none", "no-base", "missing-import"])
def test_auto_map_only_beside_its_code(tiny, tmp_path, published_phi3v, code):
    """A file keeps its auto_map only when every code file it names (relative imports included) is copied
    beside it: no base folder or no code, no auto_map anywhere; the model's code without a module it imports,
    none in config.json while the processor's whole code keeps preprocessor_config.json's."""
    base = published_phi3v
    if code == "missing-import":
        for name, text in CODE.items():
            if name != "image_embedding_phi3_v.py":
                (base / name).write_text(text)
    out = tmp_path / "export"
    assert not _export(tiny, out, None if code == "no-base" else base)
    assert "auto_map" not in _read(out / "config.json")
    processor_code = (
        ["image_processing_phi3_v.py", "processing_phi3_v.py"] if code == "missing-import" else []
    )
    assert ("auto_map" in _read(out / "preprocessor_config.json")) == bool(processor_code)
    assert sorted(p.name for p in out.glob("*.py")) == processor_code


def test_hub_config_saves_without_auto_map(tmp_path, published_phi3v):
    """A model loaded from the hub's config.json saves without the auto_map of code it does not hold."""
    from phi3v import Phi3VConfig

    config = Phi3VConfig.from_dict(_read(published_phi3v / "config.json"))
    config.save_pretrained(tmp_path)
    assert "auto_map" not in _read(tmp_path / "config.json")


def test_real_tokenizer_survives_our_save(tmp_path, published_phi3v):
    """The published tokenizer loads in ours and saves back as published: tokenizer.json and
    special_tokens_map.json byte for byte, tokenizer_config.json but for the chat template (ours gives the
    training prompt)."""
    src = published_phi3v
    processor = Phi3VProcessor.from_pretrained(src)
    out = tmp_path / "saved"
    processor.save_pretrained(out)
    assert (out / "tokenizer.json").read_bytes() == (src / "tokenizer.json").read_bytes()
    assert _read(out / "special_tokens_map.json") == _read(src / "special_tokens_map.json")
    saved, published = _read(out / "tokenizer_config.json"), _read(src / "tokenizer_config.json")
    assert {k: v for k, v in saved.items() if k != "chat_template"} == {
        k: v for k, v in published.items() if k != "chat_template"
    }
    preprocessor = _read(out / "preprocessor_config.json")
    assert set(_read(src / "preprocessor_config.json")) - {"auto_map"} <= set(preprocessor)
    again = Phi3VProcessor.from_pretrained(out)
    image = Image.new("RGB", (64, 64))
    for answer in (ANSWER, None):
        a, b = processor.encode_example(image, answer), again.encode_example(image, answer)
        assert a["input_ids"].tolist() == b["input_ids"].tolist()


def test_real_tokenizer_encodes_the_prompt_as_upstream(published_phi3v):
    """Prompt and answer text around the image placeholders encode to the ids transformers 4.44 gives with
    the published files (recorded from it): each text piece starts with <s>, as upstream's processor does."""
    processor = Phi3VProcessor.from_pretrained(published_phi3v, num_crops=1)
    ids = processor.encode_example(Image.new("RGB", (64, 64)), ANSWER, with_pixels=False)[
        "input_ids"
    ].tolist()
    text_ids = [i for i in ids if i >= 0]
    assert text_ids == [
        1, 32010, 29871, 13,  # <s><|user|>\n, then the image's -1 block
        1, 1724, 338, 4318, 297, 445, 1967, 29973, 32007, 32001,  # <s>What ... image?<|end|><|assistant|>
        10969, 29901, 5399, 315, 1161, 29885, 406, 2522, 29293, 29892, 17943, 29901, 12314, 1718, 29963, 2890,
        29892, 14846, 20743, 29901, 29871, 29945, 29929, 29900, 29889, 29900, 32007,
    ]  # fmt: skip


def test_chat_template_gives_the_training_prompt(tiny, tmp_path):
    """The exported chat template renders one user turn (image tag + question) as build_prompt()."""
    _export(tiny, tmp_path, None)
    _, processor = load_model(str(tmp_path))
    messages = [{"role": "user", "content": IMAGE_TAG + QUESTION}]
    text = processor.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == build_prompt()


def test_merges_written_as_strings_unless_a_piece_holds_a_space():
    """tokenizers 0.19 reads merges only as "a b" strings; pairs with a space in a piece stay pairs."""
    data = {"model": {"type": "BPE", "merges": [["Ġ", "t"], ["e", "r"]]}}
    assert legacy_tokenizer_json(data)["model"]["merges"] == ["Ġ t", "e r"]
    spaced = {"model": {"type": "BPE", "merges": [["a b", "c"]]}}
    assert legacy_tokenizer_json(spaced) == spaced
