"""Exports load where Phi-3-Vision is used: transformers 4.44 (the upstream code's era, tokenizers 0.19) loads
the exported tokenizer with AutoTokenizer and encodes the chat prompt and answer to our ids.

It runs in `.venv-tf4` (transformers 4.44.2, no torch), which `make test` creates; run by hand without it,
the test is skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from contracts.task import build_answer
from phi3v.chat import END, IMAGE_TAG, build_prompt
from phi3v.export_format import finish_export
from phi3v.loading import load_model
from phi3v.processing import Phi3VProcessor

ROOT = Path(__file__).resolve().parents[2]
TF4_PYTHON = ROOT / ".venv-tf4" / "bin" / "python"
ANSWERS = [
    build_answer("Check Cashmere Scarf", "SCARVES", 590.0),
    build_answer("House Check Cotton and Leather Sneakers", "SNEAKERS", 650.0),
]

# Run by .venv-tf4's python: argv[1] a JSON {dir: [texts]}; prints versions, classes and ids per text.
SCRIPT = """
import json, sys
import tokenizers, transformers
from transformers import AutoTokenizer
out = {"transformers": transformers.__version__, "tokenizers": tokenizers.__version__, "dirs": {}}
for directory, texts in json.loads(sys.argv[1]).items():
    tok = AutoTokenizer.from_pretrained(directory)
    out["dirs"][directory] = {
        "class": type(tok).__name__,
        "ids": [tok(t).input_ids for t in texts],
        "bare": [tok(t, add_special_tokens=False).input_ids for t in texts],
    }
print(json.dumps(out))
"""


def _texts() -> list[str]:
    """The text pieces our processor tokenizes: around the image tag, the prompt alone and with answers."""
    head, prompt = build_prompt().split(IMAGE_TAG)
    return [head, prompt] + [prompt + a + END for a in ANSWERS] + [a + END for a in ANSWERS]


def _expected(tokenizer, texts):
    return {
        "ids": [tokenizer(t).input_ids for t in texts],
        "bare": [tokenizer(t, add_special_tokens=False).input_ids for t in texts],
    }


def _assemble(result: dict, n_image: int, answer_index: int) -> list[int]:
    """encode_example's ids from 4.x's pieces: <s>-led head, the -1 block, the prompt (+ answer + <|end|>)."""
    ids = result["ids"]
    prompt = ids[1]
    full = ids[2 + answer_index]
    alone = result["bare"][2 + len(ANSWERS) + answer_index]  # the answer tokenized on its own
    tail = full[len(prompt) :] if full[: len(prompt)] == prompt else alone
    return ids[0] + [-1] * n_image + prompt + tail


@pytest.mark.skipif(
    not TF4_PYTHON.is_file(),
    reason=f"{TF4_PYTHON.relative_to(ROOT)} is missing: `make test` creates it "
    '(python3 -m venv .venv-tf4; .venv-tf4/bin/pip install "transformers==4.44.2")',
)
def test_transformers_4_loads_exported_tokenizers_and_encodes_as_we_do(tmp_path, published_phi3v):
    """A tiny export (model, processor, export_format) and the real tokenizer through our save: 4.44's
    AutoTokenizer loads both as LlamaTokenizerFast and gives our ids, piece by piece and assembled."""
    model, processor = load_model("tiny", seed=0)
    tiny_dir = tmp_path / "tiny"
    model.save_pretrained(tiny_dir)
    processor.save_pretrained(tiny_dir)
    finish_export(tiny_dir, None)
    real = Phi3VProcessor.from_pretrained(published_phi3v, num_crops=1)
    real_dir = tmp_path / "real"
    real.save_pretrained(real_dir)

    texts = _texts()
    ours = {str(tiny_dir): processor, str(real_dir): real}
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error", "PYTHONPATH": ""}
    run = subprocess.run(
        [str(TF4_PYTHON), "-c", SCRIPT, json.dumps(dict.fromkeys(ours, texts))],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["transformers"].startswith("4.") and result["tokenizers"].startswith("0.19"), result
    image = Image.new("RGB", (96, 64), (120, 40, 200))
    for directory, proc in ours.items():
        got = result["dirs"][directory]
        assert got["class"] == "LlamaTokenizerFast", directory
        assert {k: got[k] for k in ("ids", "bare")} == _expected(proc.tokenizer, texts), directory
        n_image = proc.image_processor.num_tokens_for_size(*image.size)
        for i, answer in enumerate(ANSWERS):
            want = proc.encode_example(image, answer, with_pixels=False)["input_ids"].tolist()
            assert _assemble(got, n_image, i) == want, (directory, answer)
