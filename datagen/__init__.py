"""Sample product datasets in the DBQ schema: synthesis, import of real data, fitting and fidelity.

Each room is a folder: ``catalogue`` (what a catalogue is: the profile format, the built-in US data, the
silhouettes), ``synth`` (sampling rows and writing them), ``render`` (product images), ``real`` (the
real-data importer), ``fit`` (learning a profile from real rows), ``fidelity`` (synthetic against real).
The DATASET dir itself (its schema, layout, reader, writer and split) is a contract of every command and
lives in ``contracts.dataset``.

The arrows as plain functions (imported lazily so that `datagen --help` starts fast):

- ``synthesize(SynthConfig) -> Path`` and ``merge_shards(data_dir)``: `datagen synth`, `synth-merge`;
- ``run_import(ImportConfig) -> ImportResult``: `datagen real`;
- ``fit_source(table, holdout, seed, copies) -> FitResult``: `datagen fit` (a holdout kept out, titles
  guarded); ``fit_profile(data_dir) -> CatalogueProfile`` learns from every row;
- ``compare_datasets(real_dir, synth_dir, holdout=None) -> dict``: `datagen compare` (fidelity, privacy,
  utility, detection, the verdict).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "SynthConfig": "datagen.config",
    "ImportConfig": "datagen.config",
    "synthesize": "datagen.synth.run",
    "merge_shards": "datagen.synth.run",
    "run_import": "datagen.real.importer",
    "fit_profile": "datagen.fit.profile",
    "fit_source": "datagen.fit.run",
    "compare_datasets": "datagen.fidelity.compare",
    "CatalogueProfile": "datagen.catalogue.profile",
    "builtin_profile": "datagen.catalogue.profile",
}
__all__ = [
    "__version__",
    "SynthConfig",
    "ImportConfig",
    "synthesize",
    "merge_shards",
    "run_import",
    "fit_profile",
    "fit_source",
    "compare_datasets",
    "CatalogueProfile",
    "builtin_profile",
]

if TYPE_CHECKING:  # pragma: no cover
    from datagen.catalogue.profile import CatalogueProfile, builtin_profile
    from datagen.config import ImportConfig, SynthConfig
    from datagen.fidelity.compare import compare_datasets
    from datagen.fit.profile import fit_profile
    from datagen.fit.run import fit_source
    from datagen.real.importer import run_import
    from datagen.synth.run import merge_shards, synthesize


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'datagen' has no attribute {name!r}")
