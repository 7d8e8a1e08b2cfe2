"""`--model hf:DIR`: tiny random models of two transformers architectures answer every row, through their own
chat templates, as transformers itself would; answers are cached; bad dirs and prompts are one line."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from contracts.errors import UserError
from contracts.task import FOREIGN_PROMPT
from evaluation.config import EvalConfig
from evaluation.run import evaluate
from tests.evaluation.foreign_models import tiny_idefics3, tiny_llava


@pytest.fixture(scope="session")
def foreign(tmp_path_factory):
    root = tmp_path_factory.mktemp("foreign")
    return {"llava": tiny_llava(root / "llava"), "idefics3": tiny_idefics3(root / "idefics3")}


def _cfg(data, tmp_path, *models, **kw):
    values = {
        "data": str(data),
        "baselines": "none",
        "max_new_tokens": 6,
        "bootstrap": 50,
        "wandb": "off",
        "quiet": True,
        "cache_dir": str(tmp_path / "cache"),
        "device": "cpu",
    }
    return EvalConfig(model=tuple(models), **(values | kw))


@pytest.mark.slow
def test_two_architectures_answer_every_row(eval_dataset, foreign, tmp_path):
    """LLaVA and Idefics3 answer all 12 rows side by side; every row is scored for both."""
    models = [f"hf:{foreign['llava']}", f"hf:{foreign['idefics3']}"]
    result = evaluate(_cfg(eval_dataset, tmp_path, *models, report=str(tmp_path / "r")))
    doc = result.document
    assert [s["name"] for s in doc["systems"]] == ["hf:llava", "hf:idefics3"]
    assert [s["kind"] for s in doc["systems"]] == ["hf", "hf"]
    assert doc["n"] == 12 and all(s["answered"] == 12 and s["unanswered"] == 0 for s in doc["systems"])
    assert all(s["speed"]["generated"] == 12 and s["speed"]["cached"] == 0 for s in doc["systems"])
    assert doc["systems"][0]["prompt"] == FOREIGN_PROMPT and doc["systems"][0]["trust_remote_code"] is False
    for row in result.rows:
        assert set(row["answers"]) == {"hf:llava", "hf:idefics3"}
        assert all(isinstance(a, str) for a in row["answers"].values())
        assert set(row["scores"]) == set(row["answers"])
    lines = (tmp_path / "r" / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == 12 and json.loads(lines[0])["answers"] == result.rows[0]["answers"]


@pytest.mark.slow
def test_answers_are_what_transformers_generates_through_the_chat_template(eval_dataset, foreign, tmp_path):
    """Our answer to a row equals transformers' own greedy generation for that image and the chat prompt."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from contracts.dataset.reader import load_image, read_split

    result = evaluate(_cfg(eval_dataset, tmp_path, f"hf:{foreign['idefics3']}", limit=2, no_cache=True))
    processor = AutoProcessor.from_pretrained(foreign["idefics3"])
    model = AutoModelForImageTextToText.from_pretrained(foreign["idefics3"])
    turn = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": FOREIGN_PROMPT}]}]
    text = processor.apply_chat_template(turn, add_generation_prompt=True)
    assert FOREIGN_PROMPT in text and text.rstrip().endswith("Assistant:")
    split = read_split(eval_dataset, "test")
    for i in range(2):
        inputs = processor(text=[text], images=[[load_image(split["image_path"][i])]], return_tensors="pt")
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=6, do_sample=False)
        expected = processor.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True).strip()
        assert result.rows[i]["answers"]["hf:idefics3"] == expected


@pytest.mark.slow
def test_a_rerun_answers_from_the_cache_and_no_cache_asks_again(eval_dataset, foreign, tmp_path):
    """Every answer is stored as it comes: a rerun asks nothing and gives the same answers; --no-cache asks
    all again."""
    model = f"hf:{foreign['llava']}"
    first = evaluate(_cfg(eval_dataset, tmp_path, model))
    stored = list((tmp_path / "cache").glob("*.jsonl"))
    assert len(stored) == 1 and len(stored[0].read_text().splitlines()) == 12
    again = evaluate(_cfg(eval_dataset, tmp_path, model))
    assert again.document["systems"][0]["speed"]["generated"] == 0
    assert again.document["systems"][0]["speed"]["cached"] == 12
    assert [r["answers"] for r in again.rows] == [r["answers"] for r in first.rows]
    fresh = evaluate(_cfg(eval_dataset, tmp_path, model, no_cache=True))
    assert fresh.document["systems"][0]["speed"]["generated"] == 12
    # another prompt is another question: nothing of the cache applies
    (tmp_path / "prompt.txt").write_text("Describe the product.\n")
    other = evaluate(_cfg(eval_dataset, tmp_path, model, prompt=str(tmp_path / "prompt.txt")))
    assert other.document["systems"][0]["speed"]["generated"] == 12
    assert other.document["systems"][0]["prompt"] == "Describe the product."


@pytest.mark.parametrize(
    ("remove", "match"),
    [
        ("processor_config.json", "has no processor files"),
        ("tokenizer.json", None),
        ("config.json", "has no config.json"),
    ],
)
def test_a_dir_without_what_loading_needs_is_one_line(eval_dataset, foreign, tmp_path, remove, match):
    """An hf: dir lacking its processor, tokenizer or config files is refused before anything loads or is
    written."""
    broken = shutil.copytree(foreign["llava"], tmp_path / "broken")
    (broken / remove).unlink()
    if remove == "tokenizer.json":
        (broken / "tokenizer_config.json").unlink()
        match = "has no tokenizer files"
    with pytest.raises(UserError, match=match):
        evaluate(_cfg(eval_dataset, tmp_path, f"hf:{broken}", report=str(tmp_path / "r")))
    assert not (tmp_path / "r").exists()


def test_an_empty_prompt_file_is_one_line(eval_dataset, foreign, tmp_path):
    (tmp_path / "prompt.txt").write_text("  \n")
    with pytest.raises(UserError, match="--prompt .* is empty"):
        evaluate(_cfg(eval_dataset, tmp_path, f"hf:{foreign['llava']}", prompt=str(tmp_path / "prompt.txt")))
    with pytest.raises(UserError, match="cannot read --prompt"):
        evaluate(_cfg(eval_dataset, tmp_path, f"hf:{foreign['llava']}", prompt=str(tmp_path / "missing.txt")))


def test_remote_code_runs_only_with_trust_remote_code(eval_dataset, tmp_path):
    """A dir whose config asks for its own code: without --trust-remote-code it is refused and its code never
    runs."""
    model = tmp_path / "custom"
    model.mkdir()
    marker = tmp_path / "code-ran"
    (model / "configuration_x.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    config = {"model_type": "custom-x", "auto_map": {"AutoConfig": "configuration_x.XConfig"}}
    (model / "config.json").write_text(json.dumps(config))
    for name in ("processor_config.json", "tokenizer_config.json"):
        (model / name).write_text("{}")
    with pytest.raises(UserError, match="ships code of its own to load: pass --trust-remote-code"):
        evaluate(_cfg(eval_dataset, tmp_path, f"hf:{model}"))
    assert not marker.exists()
