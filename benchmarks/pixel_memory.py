"""Memory of `finetune`'s encoded splits, and how fast images are transformed when they are not kept.

    python benchmarks/pixel_memory.py --data out/data                       # the tiny default and phi3v
    python benchmarks/pixel_memory.py --data out/data --threads 1,2,8 --images 64 --json out/pixels.json

For each processor (the tiny default's: 112-px crops, num_crops 1; the full-size model's: 336-px crops,
num_crops 16, as `phi3v` and `phi3v-random` use) it prints what keeping the train and validation splits'
processed images takes (`data.pixel_bytes`, equal to the kept tensors' size), whether `finetune` keeps them
under the default `--pixel-memory-gib`, the time to encode the text alone (what a split that keeps no pixels
caches), and how many images per second the background threads transform (`data.image_source`: read the
JPEG, HD transform) with 1, 2, ... threads. A training step of B examples then waits for nothing as long as
B / (images/s) stays under the step's time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from contracts.task import build_answer  # noqa: E402
from finetune import data as D  # noqa: E402
from finetune.config import TrainConfig  # noqa: E402
from finetune.phi3v import Phi3VImageProcessor, Phi3VProcessor, build_tiny_tokenizer  # noqa: E402
from finetune.presets import PRESETS, load_model  # noqa: E402
from finetune.setup import TINY_DEFAULT_OVERRIDES  # noqa: E402


def tiny_processor() -> Phi3VProcessor:
    """What `finetune` trains the tiny default with."""
    return load_model("tiny", overrides=TINY_DEFAULT_OVERRIDES, corpus=["x"])[1]


def full_size_processor() -> Phi3VProcessor:
    """The phi3v presets' processor (the hub's preprocessor: 336-px crops), without the 4.2B model."""
    return Phi3VProcessor(build_tiny_tokenizer(), Phi3VImageProcessor(num_crops=PRESETS["phi3v"].num_crops))


PROCESSORS = {"tiny": tiny_processor, "phi3v": full_size_processor}


def measure(data: Path, name: str, threads: list[int], images: int) -> dict:
    frames = D.read_training_splits(data)
    proc = PROCESSORS[name]()
    ip = proc.image_processor
    budget = TrainConfig.__dataclass_fields__["pixel_memory_gib"].default
    row: dict = {"processor": name, "crop": ip.crop_size, "crops": ip.num_crops + 1, "splits": {}}
    for split, frame in frames.items():
        gib = D.pixel_bytes(len(frame), ip) / 2**30
        row["splits"][split] = {
            "rows": len(frame),
            "gib": gib,
            "kept": D.fits_in_memory(len(frame), ip, budget),
        }
    train = frames[D.TRAIN].head(images)
    answers = D.answer_texts(train, build_answer)
    torch.set_num_threads(1)  # as finetune encodes
    start = time.perf_counter()
    D.encode_split(train, answers, proc.encode_example, keep_pixels=False)
    row["text_ms_per_image"] = (time.perf_counter() - start) / len(train) * 1000
    source = D.image_source(train, ip)
    row["mib_per_image"] = source(0).numel() * 4 / 2**20
    row["images_per_s"] = {}
    for n in threads:
        with ThreadPoolExecutor(n) as pool:
            start = time.perf_counter()
            list(pool.map(source, range(len(train))))
            row["images_per_s"][n] = len(train) / (time.perf_counter() - start)
    return row


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="a DATASET dir (datagen synth or real)")
    parser.add_argument("--processors", default="tiny,phi3v", help=f"any of {', '.join(PROCESSORS)}")
    parser.add_argument("--threads", default="1,2", help="background thread counts to time")
    parser.add_argument("--images", type=int, default=32, help="training images to time")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",")]
    rows = [measure(Path(args.data), p, threads, args.images) for p in args.processors.split(",")]
    for r in rows:
        kept = ", ".join(
            f"{s} {v['rows']} rows {v['gib']:.2f} GiB {'kept' if v['kept'] else 'made per batch'}"
            for s, v in r["splits"].items()
        )
        rates = ", ".join(f"{n} threads {v:.1f}" for n, v in r["images_per_s"].items())
        print(
            f"{r['processor']}: {r['crops']} crops of {r['crop']} px, {r['mib_per_image']:.2f} MiB/image; "
            f"{kept}; text alone {r['text_ms_per_image']:.1f} ms/image; images/s transformed: {rates}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()
