"""Headwater's sentence embedding model: built by `python -m models.build`, loaded here.

The runtime names are imported on first use, so that `python -m models.build` finds an
up-to-date model without loading onnxruntime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.embedder import (
        Embedder,
        ModelNotBuiltError,
        load_embedder,
        load_embedder_of_version,
    )

__all__ = ["Embedder", "ModelNotBuiltError", "load_embedder", "load_embedder_of_version"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from models import embedder

        return getattr(embedder, name)
    raise AttributeError(f"module 'models' has no attribute {name!r}")
