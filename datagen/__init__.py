"""Sample product datasets in the DBQ schema: synthesis, import of real data, fidelity.

Public API (imports are lazy so that `datagen synth` starts fast):

- ``synthesize(SynthConfig) -> Path`` and ``merge_shards(dirs, out)``: write a DATASET dir;
- ``read_dataset``, ``read_split``, ``read_info``, ``read_latents``, ``load_image``: read one;
- ``assign_splits``: the one split function; ``DatasetWriter``: the atomic writer;
- ``CatalogueProfile``, ``builtin_profile``: the catalogue description; ``oracle_answer``: the ceiling.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "SynthConfig": "datagen.config",
    "synthesize": "datagen.synth",
    "merge_shards": "datagen.synth",
    "read_dataset": "datagen.reader",
    "read_split": "datagen.reader",
    "read_info": "datagen.reader",
    "read_latents": "datagen.reader",
    "load_image": "datagen.reader",
    "assign_splits": "datagen.split",
    "DatasetWriter": "datagen.writer",
    "CatalogueProfile": "datagen.profile",
    "builtin_profile": "datagen.profile",
    "oracle_answer": "datagen.oracle",
    "expected_price": "datagen.price_model",
}
__all__ = [
    "__version__",
    "SynthConfig",
    "synthesize",
    "merge_shards",
    "read_dataset",
    "read_split",
    "read_info",
    "read_latents",
    "load_image",
    "assign_splits",
    "DatasetWriter",
    "CatalogueProfile",
    "builtin_profile",
    "oracle_answer",
    "expected_price",
]

if TYPE_CHECKING:  # pragma: no cover
    from contracts.dataset.reader import load_image, read_dataset, read_info, read_latents, read_split
    from contracts.dataset.split import assign_splits
    from contracts.dataset.writer import DatasetWriter
    from datagen.config import SynthConfig
    from datagen.oracle import oracle_answer
    from datagen.price_model import expected_price
    from datagen.profile import CatalogueProfile, builtin_profile
    from datagen.synth import merge_shards, synthesize


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'datagen' has no attribute {name!r}")
