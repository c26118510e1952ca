"""Export a BERT-family sentence encoder to an int8 ONNX model directory (build time only)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from safetensors.numpy import load_file

from models.build.bert_graph import OPSET, BertConfig, build_bert_graph
from models.build.probe_sentences import PROBE_SENTENCES
from models.build.reference import NumpyBert
from models.build.source import WEIGHTS_FILE, SourceModel
from models.embedder import Embedder
from models.manifest import (
    LANGUAGE_MEANS_FILE,
    MODEL_FILE,
    REFERENCE_FILE,
    TOKENIZER_FILE,
    Manifest,
    content_version,
    sha256_file,
)
from models.paths import CALIBRATION_FILE

# The exported fp32 graph must reproduce the numpy forward pass to this cosine.
GRAPH_CHECK_MIN_COSINE = 0.9999
BUILD_THREADS = 2


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _pooling(source_dir: Path) -> str:
    pooling = _read_json(source_dir / "1_Pooling" / "config.json")
    if pooling and not pooling.get("pooling_mode_mean_tokens", False):
        raise ValueError(f"{source_dir}: only mean pooling is supported, got {pooling}")
    return "mean"


def _prompts(source_dir: Path) -> tuple[str, str]:
    """The query and passage prompts of sentence-transformers' config, if it has them."""
    prompts = _read_json(source_dir / "config_sentence_transformers.json").get("prompts") or {}
    return prompts.get("query", ""), prompts.get("passage", prompts.get("document", ""))


def _max_seq_length(source_dir: Path, requested: int | None, config: dict[str, Any]) -> int:
    if requested is not None:
        return requested
    sentence_config = _read_json(source_dir / "sentence_bert_config.json")
    return int(sentence_config.get("max_seq_length", config["max_position_embeddings"]))


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def measure_agreement(
    int8: Embedder, fp32: Embedder, texts: list[str], reference: np.ndarray
) -> dict[str, Any]:
    """Check the fp32 graph against the numpy reference, then measure the int8 model."""
    fp32_alone = np.concatenate([fp32.embed([t]) for t in texts])
    graph_cosine = float(_cosines(fp32_alone, reference).min())
    if graph_cosine < GRAPH_CHECK_MIN_COSINE:
        raise RuntimeError(
            f"exported fp32 graph disagrees with the numpy forward pass: min cosine {graph_cosine}"
        )
    int8_alone = np.concatenate([int8.embed([t]) for t in texts])
    int8_batched = int8.embed(texts, batch_size=len(texts), sort_by_length=False)
    agreement = _cosines(int8_alone, reference)
    return {
        "reference": "numpy fp32 forward pass of the source weights",
        "sentences": len(texts),
        "fp32_graph_min_cosine": round(graph_cosine, 6),
        "int8_mean_cosine": round(float(agreement.mean()), 6),
        "int8_min_cosine": round(float(agreement.min()), 6),
        "int8_batch_independence_min_cosine": round(
            float(_cosines(int8_alone, int8_batched).min()), 6
        ),
    }


def language_means(embedder: Embedder) -> dict[str, list[float]]:
    """Each calibration language's mean passage embedding, rounded (see `Embedder`)."""
    transcripts = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))
    return {
        language: embedder.embed_passages(texts).mean(axis=0).round(6).tolist()
        for language, texts in sorted(transcripts.items())
    }


def export_model(
    source: SourceModel,
    out_dir: Path,
    *,
    name: str,
    build_inputs: dict[str, Any],
    max_seq_length: int | None,
    fp32_layers: tuple[str, ...],
    int8_word_table: bool = False,
    center_languages: bool = False,
) -> Manifest:
    src = source.directory
    hf_config = _read_json(src / "config.json")
    if hf_config.get("model_type") != "bert":
        model_type = hf_config.get("model_type")
        raise ValueError(f"{src}: only BERT-family encoders are built, got {model_type}")
    config = BertConfig.from_hf(hf_config)
    pooling = _pooling(src)
    seq_len = _max_seq_length(src, max_seq_length, hf_config)
    query_prefix, passage_prefix = _prompts(src)
    weights = load_file(str(src / WEIGHTS_FILE))

    staging = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shutil.copyfile(src / TOKENIZER_FILE, staging / TOKENIZER_FILE)
    fp32_file = staging / "model_fp32.onnx"
    onnx.save(build_bert_graph(weights, config, int8=False), fp32_file)
    onnx.save(
        build_bert_graph(
            weights, config, int8=True, fp32_layers=fp32_layers, int8_word_table=int8_word_table
        ),
        staging / MODEL_FILE,
    )

    def embedder(model_file: Path) -> Embedder:
        return Embedder(
            model_file,
            staging / TOKENIZER_FILE,
            max_seq_length=seq_len,
            dim=config.hidden_size,
            version="unbuilt",
            threads=BUILD_THREADS,
            query_prefix=query_prefix,
            passage_prefix=passage_prefix,
        )

    int8, fp32 = embedder(staging / MODEL_FILE), embedder(fp32_file)
    if center_languages:
        (staging / LANGUAGE_MEANS_FILE).write_text(
            json.dumps(language_means(int8), sort_keys=True), encoding="utf-8"
        )
    texts = list(PROBE_SENTENCES)
    numpy_bert = NumpyBert(weights, config)
    reference = np.stack([numpy_bert.embed_ids(ids) for ids in int8.token_ids(texts)])
    agreement = measure_agreement(int8, fp32, texts, reference)
    del int8, fp32
    fp32_file.unlink()
    (staging / REFERENCE_FILE).write_text(
        json.dumps({"texts": texts, "embeddings": reference.round(7).tolist()}, ensure_ascii=False),
        encoding="utf-8",
    )

    names = [MODEL_FILE, TOKENIZER_FILE, REFERENCE_FILE]
    if center_languages:
        names.append(LANGUAGE_MEANS_FILE)
    files = {n: sha256_file(staging / n) for n in names}
    runtime: dict[str, Any] = {"max_seq_length": seq_len, "pooling": pooling, "normalized": True}
    if query_prefix or passage_prefix:  # absent for models without prompts: same version
        runtime["prefixes"] = {"query": query_prefix, "passage": passage_prefix}
    manifest = Manifest(
        name=name,
        version=content_version({n: h for n, h in files.items() if n != REFERENCE_FILE}, runtime),
        source={
            "model": source.description,
            "weights_sha256": sha256_file(src / WEIGHTS_FILE),
            "architecture": hf_config.get("architectures", ["BertModel"])[0],
        },
        build_inputs=build_inputs,
        architecture="bert",
        pooling=pooling,
        normalized=True,
        max_seq_length=seq_len,
        dim=config.hidden_size,
        quantization={
            "weights": "int8 symmetric, per output channel",
            "activations": "uint8 over each token's own min..max range, computed at run time",
            "kernel": "MatMulInteger (uint8 activations x int8 weights), exact int32 sums",
            "fp32_layers": list(fp32_layers),
            "word_table": "int8 symmetric, per row" if int8_word_table else "fp32",
            "onnx_opset": OPSET,
        },
        agreement=agreement,
        files=files,
        query_prefix=query_prefix,
        passage_prefix=passage_prefix,
    )
    manifest.write(staging)
    shutil.rmtree(out_dir, ignore_errors=True)
    staging.rename(out_dir)
    return manifest
