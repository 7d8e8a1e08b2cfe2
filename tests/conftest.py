"""Session-wide test settings (tracking stays offline and quiet) and fixtures that several packages' tests
share: the published model files, a fresh torch.compile state."""

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# microsoft/Phi-3-vision-128k-instruct's published config, processor and tokenizer files (no code, no
# weights), which stand in ../shared beside the repository (as in CI)
PUBLISHED_PHI3V = Path(__file__).resolve().parents[2] / "shared" / "reference" / "phi3v-published"


@pytest.fixture
def published_phi3v(tmp_path: Path) -> Path:
    """The published Phi-3-Vision files in a fresh dir, as the hub lays them out."""
    if not PUBLISHED_PHI3V.is_dir():
        pytest.skip(
            f"the published Phi-3-Vision files are not at {PUBLISHED_PHI3V} (../shared beside the repo)"
        )
    root = tmp_path / "published"
    root.mkdir()
    for path in PUBLISHED_PHI3V.iterdir():
        if path.name != "README.md":
            shutil.copyfile(path, root / path.name)
    return root


@pytest.fixture
def fresh_dynamo():
    """Compiled code of one test must not count towards another's recompile limit."""
    import torch

    torch._dynamo.reset()
    yield
    torch._dynamo.reset()
