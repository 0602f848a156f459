#!/usr/bin/env python3
"""Append one line per hook call to .weft/audit.log.

Usage: audit.py EVENT. The hook context comes from weft as WEFT_* environment variables and as
JSON on stdin; both are read (the JSON wins). Run by hand, it just logs what the environment has.
"""
import json
import os
import select
import sys
from datetime import datetime, timezone
from pathlib import Path

FIELDS = ["workflow_id", "run_id", "stage_id", "attempt", "status", "duration_ms", "error", "failed_step", "steps_run"]


def context():
    ctx = {f: os.environ.get("WEFT_" + f.upper(), "") for f in FIELDS}
    stdin = sys.stdin
    if stdin is not None and not stdin.isatty():
        ready, _, _ = select.select([stdin], [], [], 0.5)
        if ready:
            try:
                data = json.loads(stdin.read() or "{}")
            except ValueError:
                data = {}
            if isinstance(data, dict):
                ctx.update({k: str(v) for k, v in data.items() if k in FIELDS and v is not None})
    return ctx


def log(event, message=""):
    ctx = context()
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"
    parts = [stamp, event] + [f"{k}={v}" for k, v in ctx.items() if v] + ([message] if message else [])
    Path(".weft").mkdir(exist_ok=True)
    with open(".weft/audit.log", "a", encoding="utf-8") as f:
        f.write(" ".join(parts) + "\n")


if __name__ == "__main__":
    log(sys.argv[1] if len(sys.argv) > 1 else "event", " ".join(sys.argv[2:]))
