#!/usr/bin/env python3
"""Blocking pre-deploy hook: refuse to deploy during a change freeze or with a tampered build.

Checks that no FREEZE file exists in the project folder, that out/build/manifest.json exists and
that the artifact it names still has the recorded sha256. Exit 1 blocks the `deploy` stage.
"""
import hashlib
import json
import sys
from pathlib import Path

from audit import log

if Path("FREEZE").exists():
    reason = Path("FREEZE").read_text().strip() or "no reason given"
    log("preflight", "BLOCKED: change freeze (" + reason + ")")
    sys.exit("deploy blocked: change freeze in effect (remove FREEZE to deploy): " + reason)
manifest_path = Path("out/build/manifest.json")
if not manifest_path.is_file():
    log("preflight", "BLOCKED: no build manifest")
    sys.exit(f"deploy blocked: {manifest_path} not found; run the build stage first")
manifest = json.loads(manifest_path.read_text())
artifact = Path(manifest["artifact"])
if not artifact.is_file() or hashlib.sha256(artifact.read_bytes()).hexdigest() != manifest["sha256"]:
    log("preflight", f"BLOCKED: {artifact} missing or changed since the build")
    sys.exit(f"deploy blocked: {artifact} is missing or does not match the manifest")
log("preflight", f"ok: {artifact} matches its manifest, no change freeze")
