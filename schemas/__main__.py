"""`python -m schemas [--check] [--dir DIR]`: write or check the records' JSON Schemas.

See `schemas.generate`. `--check` writes nothing: it exits 1 and names each stale,
missing or extra file when the checked-in schemas differ from the models.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from schemas.generate import SCHEMA_DIR, stale_files, write


def _shown(path: Path) -> Path:
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas", description=__doc__)
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if a checked-in schema file is stale; write nothing",
    )
    parser.add_argument(
        "--dir", type=Path, default=SCHEMA_DIR, help=f"schema directory (default: {SCHEMA_DIR})"
    )
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files(args.dir)
        for name in stale:
            print(f"[schemas] stale: {_shown(args.dir / name)}", file=sys.stderr)
        if stale:
            print("[schemas] run `python -m schemas` to regenerate", file=sys.stderr)
            return 1
        print(f"[schemas] up to date: {_shown(args.dir)}")
        return 0
    changed = write(args.dir)
    for name in changed:
        print(f"[schemas] wrote: {_shown(args.dir / name)}")
    if not changed:
        print(f"[schemas] up to date: {_shown(args.dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
