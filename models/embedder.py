"""Sentence embeddings from the built ONNX model: onnxruntime and a fast tokenizer, no torch."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

from models.manifest import (
    LANGUAGE_MEANS_FILE,
    MODEL_FILE,
    TOKENIZER_FILE,
    Manifest,
    valid_manifest,
)
from models.paths import MODEL_DIR_ENV, MODELS_DIR, default_model_dir

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

    A question and what it should find are embedded differently by an asymmetric model
    (E5 is trained on `query: ` and `passage: ` before them): embed questions with
    `embed_queries` and what is indexed with `embed_passages`. `embed` takes the texts
    as they are.

    A multilingual model also puts texts of one language nearer each other than the same
    meaning in another language. When the model has language means (measured at build
    time), `neutralize_languages` takes each passage vector's language mean out of it, so
    a question finds a conversation in another language too
    (benchmarks/README.md, "Retrieval").
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
        query_prefix: str = "",
        passage_prefix: str = "",
        language_means: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.dim = dim
        self.language_means = language_means or {}
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
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

    def embed_queries(self, questions: Sequence[str], **options: Any) -> np.ndarray:
        """`embed` of questions, each behind the model's query prefix."""
        return self.embed([self.query_prefix + q for q in questions], **options)

    def embed_passages(self, passages: Sequence[str], **options: Any) -> np.ndarray:
        """`embed` of what is searched (segments, messages), behind the passage prefix."""
        return self.embed([self.passage_prefix + p for p in passages], **options)

    def neutralize_languages(self, vectors: np.ndarray, languages: Sequence[str]) -> np.ndarray:
        """Passage vectors less the mean of their language, L2-normalized again (a copy).

        A language without a mean (`und`) has the mean of all languages taken out; a
        model without means returns `vectors` unchanged.
        """
        if not self.language_means or len(vectors) == 0:
            return vectors
        overall: np.ndarray = np.mean(np.stack(list(self.language_means.values())), axis=0)
        means = np.stack([self.language_means.get(lang, overall) for lang in languages])
        centered = vectors - means
        return (centered / np.linalg.norm(centered, axis=1, keepdims=True)).astype(np.float32)

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


def find_model_dir(version: str) -> Path:
    """The built model directory of model `version`: the configured model's, else one of
    .cache/models. An index is queried with the model it was embedded by, whichever
    model is the default now."""
    configured = default_model_dir()
    for model_dir in [configured, *sorted(p for p in MODELS_DIR.glob("*") if p.is_dir())]:
        try:
            if Manifest.read(model_dir).version == version:
                return model_dir
        except (OSError, ValueError, TypeError):
            continue
    raise ModelNotBuiltError(
        f"no built embedding model has version {version} (looked in {configured} and "
        f"{MODELS_DIR}): run `make model`, or set {MODEL_DIR_ENV} to its directory"
    )


def load_embedder_of_version(version: str, threads: int | None = None) -> Embedder:
    """The embedder of model `version` (see `find_model_dir`); one per process."""
    return load_embedder(find_model_dir(version), threads)


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
    means_file = model_dir / LANGUAGE_MEANS_FILE
    means = (
        {k: np.asarray(v, dtype=np.float32) for k, v in json.loads(means_file.read_bytes()).items()}
        if LANGUAGE_MEANS_FILE in manifest.files
        else None
    )
    return Embedder(
        model_dir / MODEL_FILE,
        model_dir / TOKENIZER_FILE,
        max_seq_length=manifest.max_seq_length,
        dim=manifest.dim,
        version=manifest.version,
        threads=threads,
        query_prefix=manifest.query_prefix,
        passage_prefix=manifest.passage_prefix,
        language_means=means,
    )
