"""The hub's parquet form of a DATASET: an ``image`` column of the ``datasets`` Image type, then the 17
columns.

What `datasets` writes itself when it pushes an image dataset: the image as a ``{bytes, path}`` struct and the
features as JSON under the ``huggingface`` key of the parquet schema's metadata, so that
``load_dataset(DIR)`` gives a ``datasets.Image`` column without being told. Row groups hold
``ROW_GROUP_ROWS`` rows, as `datasets` writes image data, so that streaming or viewing a row reads little.
"""

from __future__ import annotations

import json

from contracts.dataset.layout import IMAGE_COLUMN
from contracts.dataset.schema import COLUMNS, FILE_NAME

ROW_GROUP_ROWS = 100
# Imagefolder layout: rows of a split's metadata file per row group (a few MB of text columns).
METADATA_GROUP_ROWS = 10_000
_ARROW = {"string": "string", "int64": "int64", "float64": "float64"}


def features() -> dict:
    """The `datasets` features of a data file, as `datasets.Features.to_dict()` spells them."""
    out: dict = {IMAGE_COLUMN: {"_type": "Image"}}
    out.update({name: {"dtype": dtype, "_type": "Value"} for name, dtype in COLUMNS.items()})
    return out


def data_schema():  # -> pyarrow.Schema
    """Arrow schema of a parquet-layout data file, with the `datasets` features in its metadata."""
    import pyarrow as pa

    image = pa.struct([pa.field("bytes", pa.binary()), pa.field("path", pa.string())])
    fields = [pa.field(IMAGE_COLUMN, image)]
    fields += [pa.field(n, pa.type_for_alias(_ARROW[d])) for n, d in COLUMNS.items()]
    meta = {"huggingface": json.dumps({"info": {"features": features()}})}
    return pa.schema(fields, metadata=meta)


def metadata_schema():  # -> pyarrow.Schema
    """Arrow schema of an imagefolder split's metadata file: ``file_name`` then the 17 columns."""
    import pyarrow as pa

    fields = [pa.field(FILE_NAME, pa.string(), nullable=False)]
    fields += [pa.field(n, pa.type_for_alias(_ARROW[d]), nullable=False) for n, d in COLUMNS.items()]
    return pa.schema(fields)


def data_write_options() -> dict:
    """pyarrow ParquetWriter options of a data file: JPEG bytes stored as they are (compressing them costs
    time and saves nothing), neither dictionary-encoded nor given statistics; the text columns zstd."""
    names = [f"{IMAGE_COLUMN}.path", *COLUMNS]
    return {
        "compression": {f"{IMAGE_COLUMN}.bytes": "NONE", **dict.fromkeys(names, "ZSTD")},
        "use_dictionary": [n for n in names if n == f"{IMAGE_COLUMN}.path" or COLUMNS.get(n) == "string"],
        "write_statistics": list(COLUMNS),
    }


def metadata_write_options() -> dict:
    return {"compression": "zstd"}
