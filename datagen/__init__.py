"""Sample product datasets in the DBQ schema: synthesis, import of real data, fidelity."""

__version__ = "0.1.0"
