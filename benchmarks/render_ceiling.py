"""Does the renderer draw two answers alike? The oracle's ceiling at the level of what the pictures show.

    python benchmarks/render_ceiling.py DATA_DIR [--samples 50000]

The oracle (``datagen.oracle``) answers from the latent attributes by name. A picture shows less than the
names: two size words with the same scale and length, two materials with the same texture and colour, a
hood on a garment without a neck, two model lines with the same emblem and enamel, ... are drawn the same.
This script groups rows by what ``datagen.render.render_product`` actually draws from them (silhouette,
scale and length, texture, body colour, pattern kind, visible detail, trim colour, emblem shape and
colour; pose, backdrop and light are drawn independently of the answer) over the dataset's own latents plus
``--samples`` more drawn from its profile, and counts the groups that hold more than one title or category.
With none, every answer is a function of the picture and the oracle's ceiling holds for an image model
(up to what downsampling and JPEG blur); otherwise it prints the best score a picture allows on the
dataset (each group answered with its most common title and category).
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contracts.dataset.reader import read_latents  # noqa: E402
from datagen.oracle import dataset_profile  # noqa: E402
from datagen.render_shapes import SHAPES  # noqa: E402
from datagen.sample import sample_latent, title_of  # noqa: E402

NO_SIZE = {"scale": 1.0, "length": 1.0}


def drawn(latent: dict, vocab: dict) -> tuple:
    """What the renderer draws from ``latent``, as ``render_product`` reads it (keep the two in step)."""
    shape = SHAPES[latent["silhouette"]]
    size = vocab["sizes"].get(latent["size"], NO_SIZE) if latent["size"] else NO_SIZE
    detail = vocab["details"][latent["detail"]]["kind"] if latent["detail"] else ""
    if (detail == "hooded" and shape.neck is None) or (detail == "quilted" and shape.quilted):
        detail = ""  # not drawn: no neck for the hood; the silhouette is quilted anyway
    emblem = None
    if latent["line"]:
        line = vocab["lines"][latent["line"]]
        metal = "silver" if latent["colour"] == "Silver" else "gold"
        emblem = (line["emblem"], tuple(vocab["colours"][line["colour"]]) if "colour" in line else metal)
    roles = {p[0] for p in shape.parts} | {s[0] for s in shape.strokes} | {d[0] for d in shape.dots}
    trim = None
    if latent["trim"] and ("trim" in roles or detail == "belted"):  # else no part shows the trim's colour
        trim = tuple(vocab["colours"][vocab["trims"][latent["trim"]]["colour"]])
    return (
        latent["silhouette"],
        size["scale"],
        size["length"],
        vocab["materials"][latent["material"]]["texture"],
        tuple(vocab["colours"][latent["colour"]]),
        vocab["patterns"][latent["pattern"]]["kind"] if latent["pattern"] else "",
        detail,
        trim,
        emblem,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data")
    ap.add_argument("--samples", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=12_345, help="seed of the extra latents")
    args = ap.parse_args()
    start = time.perf_counter()
    profile = dataset_profile(args.data)
    vocab = profile.vocabulary
    frame = read_latents(args.data)
    if frame is None:
        sys.exit(f"{args.data} has no latents.jsonl: this needs a dataset made by datagen synth")
    rows = frame.to_dict("records")
    extra = (sample_latent(profile, args.seed, i) for i in range(args.samples))
    titles: dict[tuple, collections.Counter] = collections.defaultdict(collections.Counter)
    categories: dict[tuple, collections.Counter] = collections.defaultdict(collections.Counter)
    for latent in [*rows, *extra]:
        key = drawn(latent, vocab)
        titles[key][title_of(latent, profile)] += 1
        categories[key][latent["category3_code"]] += 1
    shared_title = [k for k, c in titles.items() if len(c) > 1]
    shared_category = [k for k, c in categories.items() if len(c) > 1]
    print(f"{len(rows)} rows + {args.samples} sampled latents: {len(titles)} different pictures (up to pose)")
    print(f"pictures drawn for more than one title:    {len(shared_title)}")
    print(f"pictures drawn for more than one category: {len(shared_category)}")
    for key in shared_title[:10]:
        print("  ", dict(titles[key].most_common(3)))
    if shared_title or shared_category:
        from rapidfuzz.fuzz import token_sort_ratio

        best_title = {k: c.most_common(1)[0][0] for k, c in titles.items()}
        best_category = {k: c.most_common(1)[0][0] for k, c in categories.items()}
        keys = [drawn(r, vocab) for r in rows]
        hits = sum(best_category[k] == r["category3_code"] for k, r in zip(keys, rows, strict=True))
        pairs = zip(keys, rows, strict=True)
        score = sum(token_sort_ratio(best_title[k], title_of(r, profile)) for k, r in pairs) / len(rows)
        print(f"best a picture allows on the dataset: category {hits / len(rows):.4f}, title {score:.2f}")
    print(f"{time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
