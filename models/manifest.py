"""The model directory's manifest: what was built, from what, and how well it agrees."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
REFERENCE_FILE = "reference.json"
LANGUAGE_MEANS_FILE = "language_means.json"
FORMAT_VERSION = 1
WEIGHTS_SHA_KEY = "weights_sha256"


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    source: dict[str, Any]
    build_inputs: dict[str, Any]
    architecture: str
    pooling: str
    normalized: bool
    max_seq_length: int
    dim: int
    quantization: dict[str, Any]
    agreement: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    query_prefix: str = ""
    passage_prefix: str = ""
    """What the model was trained to see before a question and before a passage (E5's
    `query: ` and `passage: `); empty for a symmetric model such as MiniLM."""

    def write(self, model_dir: Path) -> None:
        text = json.dumps(asdict(self), indent=2, sort_keys=True, ensure_ascii=False)
        (model_dir / MANIFEST_FILE).write_text(text + "\n", encoding="utf-8")

    @classmethod
    def read(cls, model_dir: Path) -> Manifest:
        data = json.loads((model_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
        return cls(**data)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def content_version(file_hashes: dict[str, str], runtime_settings: dict[str, Any]) -> str:
    """A short id of everything that decides the embeddings: model, tokenizer, settings."""
    payload = json.dumps({"files": file_hashes, "runtime": runtime_settings}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def valid_manifest(model_dir: Path) -> Manifest | None:
    """The manifest if the directory holds a complete build whose files match it."""
    try:
        manifest = Manifest.read(model_dir)
    except (OSError, ValueError, TypeError):
        return None
    if manifest.format_version != FORMAT_VERSION:
        return None
    for name, expected in manifest.files.items():
        path = model_dir / name
        if not path.is_file() or sha256_file(path) != expected:
            return None
    return manifest
