"""The E5S1 converter on a small packed file written here: tensors, vocabulary pruning,
the tokenizer, determinism, and the int8 build of what it writes."""

from __future__ import annotations

import json
import struct
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file
from tokenizers import Tokenizer

from models.build.e5s1 import Q4_BLOCK_BYTES, QK, convert, dequantize_q4, kept_ids, read_packed

H, LAYERS, HEADS, FF, MAX_POSITIONS = 32, 1, 2, 64, 16
PIECES = [
    ("<s>", 0.0),
    ("<pad>", 0.0),
    ("</s>", 0.0),
    ("<unk>", 0.0),
    ("▁", -2.0),
    ("▁xin", -3.0),
    ("▁chào", -3.5),
    ("▁hủy", -4.0),
    ("▁đơn", -4.0),
    ("中", -5.0),
    ("▁hello", -3.0),
    ("▁Привет", -6.0),
    ("h", -7.0),
    ("e", -7.0),
    ("l", -7.0),
    ("o", -7.0),
    ("!", -5.0),
]
VOCAB_ROWS = len(PIECES) + 3  # the file's table has padding rows past the pieces


def q4_rows(rng: np.random.Generator, rows: int, cols: int) -> tuple[bytes, np.ndarray]:
    """Random Q4_0 blocks and the values they stand for."""
    scales = rng.uniform(0.01, 0.1, size=rows * cols // QK).astype(np.float16)
    nibbles = rng.integers(0, 16, size=(rows * cols // QK, QK), dtype=np.uint8)
    packed = nibbles[:, :16] | (nibbles[:, 16:] << 4)
    raw = b"".join(s.tobytes() + p.tobytes() for s, p in zip(scales, packed, strict=True))
    values = (nibbles.astype(np.float32) - 8) * scales.astype(np.float32)[:, None]
    return raw, values.reshape(rows, cols)


def pack(path: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Write a small E5S1 file; the float tensors it holds, by E5S1 name."""
    rng = np.random.default_rng(seed)
    tensors: list[tuple[str, int, bytes, int]] = []
    values: dict[str, np.ndarray] = {}

    def q4(name: str, rows: int, cols: int) -> None:
        raw, values[name] = q4_rows(rng, rows, cols)
        tensors.append((name, 1, raw, rows * cols))

    def f32(name: str, *shape: int, scale: float = 0.1, offset: float = 0.0) -> None:
        array = (rng.normal(size=shape) * scale + offset).astype(np.float32)
        values[name] = array
        tensors.append((name, 0, array.tobytes(), array.size))

    q4("emb.word", VOCAB_ROWS, H)
    f32("emb.pos", MAX_POSITIONS, H)
    f32("emb.type", 2, H)
    f32("emb.ln.w", H, offset=1.0)
    f32("emb.ln.b", H)
    for layer in range(LAYERS):
        for short, rows, cols in (("q", H, H), ("k", H, H), ("v", H, H), ("ao", H, H)):
            q4(f"l{layer}.{short}.w", rows, cols)
            f32(f"l{layer}.{short}.b", rows)
        f32(f"l{layer}.aln.w", H, offset=1.0)
        f32(f"l{layer}.aln.b", H)
        q4(f"l{layer}.fi.w", FF, H)
        f32(f"l{layer}.fi.b", FF)
        q4(f"l{layer}.fo.w", H, FF)
        f32(f"l{layer}.fo.b", H)
        f32(f"l{layer}.oln.w", H, offset=1.0)
        f32(f"l{layer}.oln.b", H)

    blob = b"".join(p.encode() for p, _ in PIECES)
    offsets = np.cumsum([0] + [len(p.encode()) for p, _ in PIECES]).astype(np.uint32)
    header = b"E5S1" + struct.pack(
        "<I7ifi", 1, H, LAYERS, HEADS, FF, VOCAB_ROWS, MAX_POSITIONS, 2, 1e-12, QK
    )
    vocab = struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob)) + offsets.tobytes()
    vocab += np.array([s for _, s in PIECES], np.float32).tobytes() + blob
    normalization = struct.pack("<IB", 0x09, 1) + struct.pack("<I", 0x20)
    vocab += struct.pack("<iI", 1, len(normalization)) + normalization
    directory_size = sum(2 + len(n) + 1 + 4 + 16 for n, *_ in tensors) + 4
    at = len(header) + len(vocab) + directory_size
    directory, data = struct.pack("<i", len(tensors)), b""
    for name, dtype, raw, count in tensors:
        directory += struct.pack("<H", len(name)) + name.encode()
        directory += struct.pack("<BIQQ", dtype, count, at + len(data), len(raw))
        data += raw
    path.write_bytes(header + vocab + directory + data)
    return values


@pytest.fixture
def packed(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    path = tmp_path / "e5-small-q4.bin"
    return path, pack(path)


def test_q4_blocks_dequantize_low_nibbles_first() -> None:
    scale = np.float16(0.5).tobytes()
    nibbles = bytes([0x8F] + [0x88] * 15)  # weight 0 = 15 - 8, weight 16 = 8 - 8
    values = dequantize_q4(scale + nibbles, 1, QK)
    assert len(scale + nibbles) == Q4_BLOCK_BYTES
    assert values[0, 0] == 3.5 and values[0, 16] == 0.0 and values[0, 1] == 0.0


def test_tensors_come_out_under_bert_names(packed: tuple[Path, dict[str, np.ndarray]]) -> None:
    path, values = packed
    model = read_packed(path)
    t = model.tensors
    np.testing.assert_array_equal(t["embeddings.word_embeddings.weight"], values["emb.word"])
    np.testing.assert_array_equal(
        t["encoder.layer.0.attention.self.query.weight"], values["l0.q.w"]
    )
    np.testing.assert_array_equal(t["encoder.layer.0.output.dense.weight"], values["l0.fo.w"])
    np.testing.assert_array_equal(t["encoder.layer.0.output.LayerNorm.bias"], values["l0.oln.b"])
    assert t["encoder.layer.0.intermediate.dense.weight"].shape == (FF, H)
    assert model.special_ids == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}


def test_pruning_keeps_latin_and_vietnamese_pieces_only() -> None:
    pieces = [p for p, _ in PIECES]
    kept = [pieces[i] for i in kept_ids(pieces)]
    assert kept[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert "▁hủy" in kept and "▁đơn" in kept and "!" in kept
    assert "中" not in kept and "▁Привет" not in kept


def test_the_converted_directory(
    packed: tuple[Path, dict[str, np.ndarray]], tmp_path: Path
) -> None:
    path, values = packed
    out = tmp_path / "converted"
    convert(path, out)
    weights = load_file(str(out / "model.safetensors"))
    pieces = [p for p, _ in PIECES]
    keep = kept_ids(pieces)
    words = weights["embeddings.word_embeddings.weight"]
    assert words.shape == (len(keep) + 1, H)  # and a zero row for <mask>
    np.testing.assert_array_equal(words[: len(keep)], values["emb.word"][keep])
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "bert" and config["vocab_size"] == len(keep) + 1
    prompts = json.loads((out / "config_sentence_transformers.json").read_text())["prompts"]
    assert prompts == {"query": "query: ", "passage": "passage: "}

    tokenizer = Tokenizer.from_file(str(out / "tokenizer.json"))
    encoding = tokenizer.encode("xin chào  hủy\tđơn hello!")
    assert encoding.tokens == ["<s>", "▁xin", "▁chào", "▁hủy", "▁đơn", "▁hello", "!", "</s>"]
    decomposed = unicodedata.normalize("NFD", "hủy đơn")
    assert tokenizer.encode(decomposed).ids == tokenizer.encode("hủy đơn").ids
    unk = tokenizer.token_to_id("<unk>")
    assert tokenizer.encode("中").ids == [0, tokenizer.token_to_id("▁"), unk, 2]


def test_conversion_is_deterministic(
    packed: tuple[Path, dict[str, np.ndarray]], tmp_path: Path
) -> None:
    path, _ = packed
    convert(path, tmp_path / "a")
    convert(path, tmp_path / "b")
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_the_int8_recipe_builds_the_converted_model(
    packed: tuple[Path, dict[str, np.ndarray]], tmp_path: Path
) -> None:
    from models.build.export import export_model
    from models.build.source import SourceModel
    from models.embedder import load_embedder

    path, _ = packed
    convert(path, tmp_path / "converted")
    out = tmp_path / "built"
    manifest = export_model(
        SourceModel(tmp_path / "converted", "test"),
        out,
        name="tiny",
        build_inputs={},
        max_seq_length=None,
        fp32_layers=(),
        int8_word_table=True,
        center_languages=True,
    )
    assert manifest.agreement["fp32_graph_min_cosine"] >= 0.9999
    assert (manifest.query_prefix, manifest.passage_prefix) == ("query: ", "passage: ")
    assert manifest.max_seq_length == MAX_POSITIONS
    embedder = load_embedder(out)
    assert sorted(embedder.language_means) == ["en", "vi"]
    assert embedder.embed_queries(["xin chào"]).shape == (1, H)
