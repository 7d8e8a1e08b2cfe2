"""How much a trained model loses to its own earlier words: the noun and the category, given the true words
before them or given its own.

    python benchmarks/exposure_gap.py RUN DATA_DIR [--split test] [--checkpoint final|best]

DATA_DIR is a `datagen synth` dataset (the noun of each row comes from its `latents.jsonl`). For every row of
the split the script decodes greedily three times from the image:

- free: the answer as `evaluate` generates it (``generate_answers``); the noun counts when the parsed
  title holds it;
- noun given the true prefix: the answer forced up to the words before the noun, then generated; the noun
  counts when the rest of the title holds it;
- category given the true title: the answer forced up to "Category:", then generated.

The gap between the first two is what the model loses by reading its own mistakes (exposure bias); the third
says how far the category follows from the title. Prints the three rates and the wall time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contracts.dataset.reader import IMAGE_PATH, load_image, read_dataset, read_latents  # noqa: E402
from contracts.task import parse_answer  # noqa: E402
from evaluation.predict import generate_answers  # noqa: E402
from finetune import run_layout  # noqa: E402
from finetune.presets import load_model  # noqa: E402


def _continue(model, processor, image, forced: str, max_new_tokens: int = 32) -> str:
    """Greedy continuation of the answer forced to start with ``forced``."""
    enc = processor.encode_example(image, forced)
    ids = enc["input_ids"][:-1][None]  # without the closing <|end|> the encoding appends
    with torch.inference_mode():
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            pixel_values=enc["pixel_values"][None],
            image_sizes=enc["image_sizes"][None],
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=list(processor.stop_token_ids),
            use_cache=True,
        )
    return processor.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run")
    ap.add_argument("data")
    ap.add_argument("--split", default="test")
    ap.add_argument("--checkpoint", choices=("final", "best"), default="final")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sub = run_layout.MODEL_DIR if args.checkpoint == "final" else run_layout.BEST_DIR
    model, processor = load_model(str(Path(args.run) / sub), dtype=torch.float32, device="cpu")
    model.eval()
    frame = read_dataset(args.data, [args.split])[args.split]
    latents = read_latents(args.data)
    if latents is None:
        sys.exit(f"{args.data} has no latents.jsonl: this needs a dataset made by datagen synth")
    nouns = dict(zip(latents["product_code"].astype(int), latents["noun"], strict=True))
    start = time.perf_counter()
    answers = generate_answers(model, processor, list(frame[IMAGE_PATH]), load_image=load_image).texts
    free = forced_noun = forced_category = 0
    rows = frame[["product_code", IMAGE_PATH, "title", "category3_code"]].itertuples(index=False)
    for (code, path, title, category), answer in zip(rows, answers, strict=True):
        image = load_image(path)
        noun = nouns[int(code)]
        prefix = title[: title.index(noun)].rstrip() if noun in title else ""
        free += noun in (parse_answer(answer).title or "")
        said = _continue(model, processor, image, f"Product: {prefix}".rstrip())
        forced_noun += noun in said.split(", Category:")[0]
        said = _continue(model, processor, image, f"Product: {title}, Category:", 16)
        forced_category += said.split(",")[0].strip() == category
    n = len(frame)
    print(f"{args.split} split, {n} rows, {args.checkpoint} weights of {args.run}")
    print(f"noun, free-running:                {free / n:.3f}")
    print(f"noun, given the true words before: {forced_noun / n:.3f}")
    print(f"category, given the true title:    {forced_category / n:.3f}")
    print(f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
