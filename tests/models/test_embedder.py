"""The built int8 embedding models: agreement with fp32, batch independence, edge inputs,
for every model `make model` builds.

Needs the models built by `make model` (python -m models.build); fails, never skips,
when one is missing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models import Embedder, ModelNotBuiltError, load_embedder
from models.build.command import main as build_main
from models.manifest import MODEL_FILE, REFERENCE_FILE, Manifest, sha256_file
from models.paths import KNOWN_MODELS, MINILM, MODEL_DIR_ENV, MODELS_DIR, MULTILINGUAL

# Agreement bounds of the issue, against the fp32 reference.
MIN_MEAN_COSINE = 0.995
MIN_COSINE = 0.97
MIN_BATCH_INDEPENDENCE = 0.999
MAX_SEQ_LENGTH = {MINILM.name: 256, MULTILINGUAL.name: 512}


@pytest.fixture(scope="module", params=[m.name for m in KNOWN_MODELS])
def model_dir(request: pytest.FixtureRequest) -> Path:
    path = MODELS_DIR / request.param
    try:
        load_embedder(path)
    except ModelNotBuiltError as e:
        pytest.fail(f"{e}. Build it with `make model`.", pytrace=False)
    return path


@pytest.fixture(scope="module")
def embedder(model_dir: Path) -> Embedder:
    return load_embedder(model_dir)


@pytest.fixture(scope="module")
def reference(model_dir: Path) -> tuple[list[str], np.ndarray]:
    data = json.loads((model_dir / REFERENCE_FILE).read_text(encoding="utf-8"))
    return data["texts"], np.asarray(data["embeddings"], dtype=np.float32)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_manifest_describes_the_model(model_dir: Path, embedder: Embedder) -> None:
    manifest = Manifest.read(model_dir)
    assert embedder.dim == manifest.dim == 384
    assert embedder.version == manifest.version
    assert len(manifest.version) == 12
    assert manifest.pooling == "mean"
    assert manifest.normalized
    assert manifest.max_seq_length == MAX_SEQ_LENGTH[model_dir.name]
    assert manifest.agreement["int8_mean_cosine"] >= MIN_MEAN_COSINE
    assert manifest.agreement["int8_min_cosine"] >= MIN_COSINE
    assert manifest.agreement["int8_batch_independence_min_cosine"] >= MIN_BATCH_INDEPENDENCE


def test_a_second_build_changes_nothing(model_dir: Path) -> None:
    before = (model_dir / "manifest.json").read_bytes()
    assert build_main([]) == 0
    assert (model_dir / "manifest.json").read_bytes() == before


def test_rebuilding_gives_the_same_model_and_version(model_dir: Path, tmp_path: Path) -> None:
    manifest = Manifest.read(model_dir)
    out = tmp_path / "model"
    flags = ["--int8-word-table"] if manifest.build_inputs.get("int8_word_table") else []
    flags += ["--center-languages"] if "language_means" in manifest.build_inputs else []
    source = manifest.build_inputs["source"]
    assert build_main(["--source", source, "--out", str(out), *flags]) == 0
    rebuilt = Manifest.read(out)
    assert rebuilt.version == manifest.version
    assert sha256_file(out / MODEL_FILE) == sha256_file(model_dir / MODEL_FILE)
    assert rebuilt.files == manifest.files


def test_embeddings_match_the_fp32_reference(
    embedder: Embedder, reference: tuple[list[str], np.ndarray]
) -> None:
    texts, expected = reference
    agreement = cosines(embedder.embed(texts, batch_size=1), expected)
    assert agreement.mean() >= MIN_MEAN_COSINE
    assert agreement.min() >= MIN_COSINE


@pytest.mark.parametrize("batch_size", [2, 8, 32])
@pytest.mark.parametrize("sort_by_length", [True, False])
def test_a_text_embeds_the_same_alone_and_in_any_batch(
    embedder: Embedder,
    reference: tuple[list[str], np.ndarray],
    batch_size: int,
    sort_by_length: bool,
) -> None:
    texts = reference[0]
    alone = np.concatenate([embedder.embed([t]) for t in texts])
    batched = embedder.embed(texts, batch_size=batch_size, sort_by_length=sort_by_length)
    assert cosines(alone, batched).min() >= MIN_BATCH_INDEPENDENCE


def test_output_order_is_input_order(
    embedder: Embedder, reference: tuple[list[str], np.ndarray]
) -> None:
    texts = reference[0]
    forward = embedder.embed(texts, batch_size=4)
    backward = embedder.embed(texts[::-1], batch_size=4)
    np.testing.assert_allclose(forward[::-1], backward, atol=1e-5)


def test_rows_are_float32_and_unit_length(embedder: Embedder) -> None:
    vectors = embedder.embed(["hello", "xin chào", ""])
    assert vectors.dtype == np.float32
    assert vectors.shape == (3, embedder.dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_no_texts_give_an_empty_matrix(embedder: Embedder) -> None:
    assert embedder.embed([]).shape == (0, embedder.dim)


def test_empty_and_whitespace_texts_embed(embedder: Embedder) -> None:
    vectors = embedder.embed(["", "   ", "\n"])
    assert np.isfinite(vectors).all()


def test_very_long_texts_are_truncated(embedder: Embedder) -> None:
    long_text = "the parcel arrived late and the box was damaged " * 2_000
    longer_text = long_text * 2
    vectors = embedder.embed([long_text, longer_text, "short"])
    assert np.isfinite(vectors).all()
    assert embedder.token_counts([long_text]) == [embedder.max_seq_length]
    assert float(vectors[0] @ vectors[1]) > 0.9999


def test_similar_meaning_scores_higher(embedder: Embedder) -> None:
    cancel, cancel_again, weather = embedder.embed(
        ["I want to cancel my order", "please cancel my order", "it is sunny today"]
    )
    assert float(cancel @ cancel_again) > float(cancel @ weather)


def test_one_embedder_per_process(model_dir: Path) -> None:
    assert load_embedder(model_dir) is load_embedder(model_dir)


def test_model_dir_from_environment(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODEL_DIR_ENV, str(model_dir))
    assert load_embedder().version == Manifest.read(model_dir).version


def test_missing_model_says_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(ModelNotBuiltError, match="make model"):
        load_embedder(tmp_path)


def test_runtime_needs_no_torch_or_onnx(model_dir: Path) -> None:
    script = (
        "import sys, models\n"
        f"models.load_embedder({str(model_dir)!r}).embed(['hello'])\n"
        "print(sorted(m for m in ('torch', 'onnx', 'safetensors', 'transformers')"
        " if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_questions_and_passages_get_the_model_prefixes(embedder: Embedder) -> None:
    manifest_prefixes = (embedder.query_prefix, embedder.passage_prefix)
    question = "how do I cancel my order?"
    np.testing.assert_allclose(
        embedder.embed_queries([question]), embedder.embed([manifest_prefixes[0] + question])
    )
    np.testing.assert_allclose(
        embedder.embed_passages([question]), embedder.embed([manifest_prefixes[1] + question])
    )


def test_only_the_multilingual_model_is_asymmetric_and_has_language_means() -> None:
    e5 = load_embedder(MODELS_DIR / MULTILINGUAL.name)
    minilm = load_embedder(MODELS_DIR / MINILM.name)
    assert (e5.query_prefix, e5.passage_prefix) == ("query: ", "passage: ")
    assert (minilm.query_prefix, minilm.passage_prefix) == ("", "")
    assert sorted(e5.language_means) == ["en", "vi"]
    assert minilm.language_means == {}


def test_neutralizing_takes_the_language_mean_out() -> None:
    e5 = load_embedder(MODELS_DIR / MULTILINGUAL.name)
    vectors = e5.embed_passages(["Shop ơi đơn của em đâu rồi?", "Where is my order?", "ok"])
    centered = e5.neutralize_languages(vectors, ["vi", "en", "und"])
    np.testing.assert_allclose(np.linalg.norm(centered, axis=1), 1.0, atol=1e-5)
    means = e5.language_means
    overall = (means["vi"] + means["en"]) / 2
    for row, mean in zip(range(3), (means["vi"], means["en"], overall), strict=True):
        expected = vectors[row] - mean
        assert float(centered[row] @ (expected / np.linalg.norm(expected))) > 0.99999


def test_neutralizing_without_means_changes_nothing() -> None:
    minilm = load_embedder(MODELS_DIR / MINILM.name)
    vectors = minilm.embed_passages(["hello"])
    assert minilm.neutralize_languages(vectors, ["en"]) is vectors


def test_a_vietnamese_question_finds_its_english_answer_only_when_neutralized() -> None:
    e5 = load_embedder(MODELS_DIR / MULTILINGUAL.name)
    passages = [
        "user: I typed the wrong delivery address, can you change it?\nagent: Sure, send me it.",
        "user: Shop ơi cho em hỏi phí ship ra Hà Nội bao nhiêu?\nagent: Dạ 30.000đ ạ.",
    ]
    question = e5.embed_queries(["Tôi muốn đổi địa chỉ nhận hàng"])[0]
    plain = e5.embed_passages(passages)
    centered = e5.neutralize_languages(plain, ["en", "vi"])
    assert float(centered[0] @ question) > float(centered[1] @ question)


def test_decomposed_vietnamese_tokenizes_as_composed() -> None:
    import unicodedata

    e5 = load_embedder(MODELS_DIR / MULTILINGUAL.name)
    text = "Tôi muốn hủy đơn hàng, giao chậm quá ạ"
    decomposed = unicodedata.normalize("NFD", text)
    assert decomposed != text
    assert e5.token_ids([decomposed]) == e5.token_ids([text])


def test_a_model_is_found_by_its_version(model_dir: Path) -> None:
    from models import load_embedder_of_version

    version = Manifest.read(model_dir).version
    assert load_embedder_of_version(version).version == version


def test_an_unknown_version_says_how_to_build_it() -> None:
    from models import load_embedder_of_version

    with pytest.raises(ModelNotBuiltError, match="no built embedding model has version 0ff1ce"):
        load_embedder_of_version("0ff1ce")
