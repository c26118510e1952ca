"""A stand-in for the reindex CLI, for the runner's tests: `python -m
tests.operators.actions.fake_reindex_cli plan|build --tenant T [--json]`.

`FAKE_REINDEX` in the environment picks what it does: `ok` (default; the plan prints
`{"tenant": T, "segments": 3}`), `fail` (exit 3 with a message on stderr), `text` (the
plan prints something that is not JSON), `list` (JSON that is not an object), `slow` (the
build runs for 30 s). `FAKE_REINDEX_CALLS`, when set, is a file each call appends its
arguments to.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["plan", "build"])
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    calls = os.environ.get("FAKE_REINDEX_CALLS")
    if calls:
        with open(calls, "a") as f:
            f.write(json.dumps(sys.argv[1:]) + "\n")
    mode = os.environ.get("FAKE_REINDEX", "ok")
    if mode == "fail":
        print(f"reindex: no collection for tenant {args.tenant}", file=sys.stderr)
        return 3
    if args.command == "plan":
        if mode == "text":
            print("planning… done")
        elif mode == "list":
            print("[1, 2]")
        else:
            print(json.dumps({"tenant": args.tenant, "segments": 3}))
        return 0
    print(f"building {args.tenant}", flush=True)
    if mode == "slow":
        time.sleep(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
