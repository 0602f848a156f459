#!/usr/bin/env python3
"""Verify the deployment: `current` points at the new release and serves the built version."""
from pathlib import Path

from _weft import consumed, fail

release_dir = Path(consumed("release_dir"))
current = release_dir.parent.parent / "current"
if not current.is_symlink() or current.resolve() != release_dir.resolve():
    fail(f"{current} does not point at {release_dir}")
version = (current / "VERSION").read_text().strip()
page = (current / "index.html").read_text()
if f"Version: {version}" not in page:
    fail(f"{current}/index.html does not show version {version}")
print(f"{current} serves version {version}")
