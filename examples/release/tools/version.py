#!/usr/bin/env python3
"""Read and check the release version, and start from a clean out/ folder.

VERSION must be semantic (MAJOR.MINOR.PATCH), match minicalc.__version__ and have a CHANGELOG entry.
Provides `version`.
"""
import re
import shutil
from pathlib import Path

from _weft import emit, fail

version = Path("VERSION").read_text(encoding="utf-8").strip()
if not re.fullmatch(r"\d+\.\d+\.\d+", version):
    fail(f"VERSION {version!r} is not MAJOR.MINOR.PATCH")
init = Path("src/minicalc/__init__.py").read_text(encoding="utf-8")
declared = re.search(r'^__version__ = "([^"]+)"', init, re.M)
if not declared or declared.group(1) != version:
    found = declared.group(1) if declared else None
    fail(f"src/minicalc/__init__.py declares {found!r}, VERSION says {version!r}")
if f"## {version}\n" not in Path("CHANGELOG.md").read_text(encoding="utf-8"):
    fail(f"CHANGELOG.md has no '## {version}' section")

shutil.rmtree("out", ignore_errors=True)  # every release starts from a clean build folder
Path("out").mkdir()
print(f"releasing minicalc {version}")
emit("version", version)
