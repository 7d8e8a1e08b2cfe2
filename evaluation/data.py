"""The rows every system answers: the split of a DATASET dir (or the rows a predictions.jsonl recorded), the
train split beside it, and the dataset's identity.

Every system gets the same ``EvalSet`` and answers its rows in order, so a REPORT holds every system's
answer to every row and two systems can be compared item by item.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from contracts.dataset import layout
from contracts.dataset.reader import IMAGE_PATH
from contracts.errors import UserError

IMAGE_BYTES = "image_bytes"  # rows that carry their image files' bytes instead of paths (serve's requests)


@dataclass
class EvalSet:
    """The rows to answer, in order, and what some systems need beside them."""

    rows: pd.DataFrame  # product_code, file_name, image_path and the gold columns (title, category3_code, …)
    split: str
    dataset: dict = field(default_factory=dict)  # path, fingerprint, splits, generator, … (metrics.json)
    train: pd.DataFrame | None = None  # the train split, when the dataset has one (baselines, token budgets)
    data_dir: str | None = None  # None for recorded rows: nothing else of the dataset is at hand

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def image_paths(self) -> list[str]:
        return [str(p) for p in self.rows[IMAGE_PATH]]

    def image_bytes(self, i: int) -> bytes:
        """Row ``i``'s image file as stored (``IMAGE_BYTES`` when the rows carry their images, as ``serve``'s
        requests do).

        Raises:
            UserError: the image file is missing or unreadable.
        """
        if IMAGE_BYTES in self.rows.columns:
            return self.rows[IMAGE_BYTES].iat[i]
        from contracts.dataset.images import image_bytes  # a JPEG's path, or a row of a parquet data file

        return image_bytes(self.rows[IMAGE_PATH].iat[i])

    def load_image(self, i: int):  # -> PIL.Image.Image, RGB
        """Row ``i``'s image, decoded to RGB.

        Raises:
            UserError: the image is missing or not readable.
        """
        if IMAGE_BYTES in self.rows.columns:
            return decode_image(self.rows[IMAGE_BYTES].iat[i], f"row {i}")
        from contracts.dataset.reader import load_image

        return load_image(self.rows[IMAGE_PATH].iat[i])


def decode_image(data: bytes, what: str):  # -> PIL.Image.Image, RGB
    """An image file's bytes as an RGB image.

    Raises:
        UserError: the bytes are not an image PIL can read.
    """
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UserError(f"cannot read the image of {what} ({exc})") from None


_UNREAD = object()


def _get_train(self: EvalSet) -> pd.DataFrame | None:
    if self._train is _UNREAD:  # read on first use: endpoints and foreign models never need it
        from contracts.dataset.reader import read_split

        self._train = read_split(self.data_dir, "train")
    return self._train


def _set_train(self: EvalSet, value: pd.DataFrame | None) -> None:
    self._train = value


# ``train`` is a dataclass field (EvalSet(train=...)) read through a property, so that the DATASET dir's
# train split (thousands of image paths checked) is read only by a system that asks for it.
EvalSet.train = property(_get_train, _set_train)  # type: ignore[assignment]


def read_eval_set(data: str, split: str, limit: int = 0) -> EvalSet:
    """The first ``limit`` rows (0: all) of ``split`` in the DATASET dir ``data``, its train split, identity.

    Raises:
        UserError: no such dataset dir or split, missing columns, an empty split.
    """
    from contracts.dataset.reader import available_splits, read_info, read_split

    rows = read_split(data, split)
    if len(rows) == 0:
        raise UserError(f"split {split!r} of {data} has no rows: choose another --split")
    if limit:
        rows = rows.iloc[:limit].reset_index(drop=True)
    splits = available_splits(data)
    try:
        info = read_info(data)
    except UserError:
        info = {}
    dataset = {
        "path": str(Path(data).expanduser().absolute()),
        "fingerprint": layout.dataset_fingerprint(data),
        "splits": splits,
        "generator": info.get("generator"),
        "generator_version": info.get("version"),
        "seed": info.get("seed"),
    }
    data_set = EvalSet(rows=rows, split=split, dataset=dataset, data_dir=data)
    if "train" in splits:
        data_set._train = _UNREAD
    return data_set


def recorded_eval_set(rows: list[dict], doc: dict) -> EvalSet:
    """The rows a predictions.jsonl recorded, as an ``EvalSet`` (the gold fields as the split's columns), and
    the dataset and split its metrics.json names (``?`` where it names none)."""
    records = [
        {"product_code": r.get("product_code"), "file_name": r.get("file_name", ""),
         IMAGE_PATH: r.get("image_path", ""), **r["gold"]}
        for r in rows
    ]  # fmt: skip
    return EvalSet(rows=pd.DataFrame.from_records(records), split=str(doc.get("split", "?")),
                   dataset=doc.get("dataset") or {})  # fmt: skip
