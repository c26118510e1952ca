"""Sentence embeddings from the built ONNX model: onnxruntime and a fast tokenizer, no torch."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

from models.manifest import MODEL_FILE, TOKENIZER_FILE, Manifest, valid_manifest
from models.paths import default_model_dir

THREADS_ENV = "HEADWATER_EMBEDDING_THREADS"
DEFAULT_THREADS = 2
DEFAULT_BATCH_SIZE = 8
"""Rows per onnxruntime run. A call's texts are sorted by length and run 8 at a time:
1.5x the texts/s of runs of 32 on chat segments of mixed length
(benchmarks/bench_embedder_threads.py)."""


class ModelNotBuiltError(FileNotFoundError):
    pass


class Embedder:
    """Embeds texts as float32 rows, L2-normalized, in input order.

    Texts are tokenized once, sorted by token count and run in batches padded only to
    the longest text of each batch, so short chat lines do not pay for long ones.
    """

    def __init__(
        self,
        model_file: Path,
        tokenizer_file: Path,
        *,
        max_seq_length: int,
        dim: int,
        version: str,
        threads: int = DEFAULT_THREADS,
    ) -> None:
        self.dim = dim
        self.version = version
        self.max_seq_length = max_seq_length
        self.threads = threads
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=max_seq_length)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Idle threads sleep instead of spinning: a live stream embeds small batches with
        # gaps between them, and spinning burned ~3x the CPU, taken from the other flows
        # (benchmarks/bench_embedder_threads.py).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(model_file), options, providers=["CPUExecutionProvider"]
        )

    def embed(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        sort_by_length: bool = True,
    ) -> np.ndarray:
        """(len(texts), dim) float32. `sort_by_length=False` batches in input order."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts))
        order = np.arange(len(texts))
        if sort_by_length:
            order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        for rows in _chunks(order, batch_size):
            out[rows] = self._run([encodings[i] for i in rows])
        return out

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's token ids as the model sees them: special tokens added, truncated."""
        return [e.ids for e in self._tokenizer.encode_batch(list(texts))]

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        return [len(ids) for ids in self.token_ids(texts)]

    def _run(self, encodings: list[Encoding]) -> np.ndarray:
        longest = max(len(e.ids) for e in encodings)
        input_ids = np.zeros((len(encodings), longest), dtype=np.int64)
        attention_mask = np.zeros_like(input_ids)
        for row, encoding in enumerate(encodings):
            input_ids[row, : len(encoding.ids)] = encoding.ids
            attention_mask[row, : len(encoding.ids)] = 1
        (embeddings,) = self._session.run(
            None, {"input_ids": input_ids, "attention_mask": attention_mask}
        )
        return embeddings


def _chunks(order: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(order), size):
        yield order[start : start + size]


def threads_from_env() -> int:
    return int(os.environ.get(THREADS_ENV, DEFAULT_THREADS))


def load_embedder(path: str | Path | None = None, threads: int | None = None) -> Embedder:
    """The embedder of a built model directory; one per process for each (path, threads).

    `path` defaults to $HEADWATER_EMBEDDING_MODEL_DIR, else .cache/models/<default model>;
    `threads` to $HEADWATER_EMBEDDING_THREADS, else 2.
    """
    model_dir = Path(path) if path is not None else default_model_dir()
    return _load(model_dir.resolve(), threads if threads is not None else threads_from_env())


@cache
def _load(model_dir: Path, threads: int) -> Embedder:
    manifest = valid_manifest(model_dir)
    if manifest is None:
        raise ModelNotBuiltError(
            f"no valid embedding model in {model_dir}: run `make model` "
            "(python -m models.build) to build it"
        )
    return from_manifest(model_dir, manifest, threads)


def from_manifest(model_dir: Path, manifest: Manifest, threads: int) -> Embedder:
    return Embedder(
        model_dir / MODEL_FILE,
        model_dir / TOKENIZER_FILE,
        max_seq_length=manifest.max_seq_length,
        dim=manifest.dim,
        version=manifest.version,
        threads=threads,
    )
