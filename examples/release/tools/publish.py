#!/usr/bin/env python3
"""Publish the archive to the local file registry out/registry/ (stand-in for a package index).

Consumes `package`, `sha256`, `version`. Verifies the checksum, refuses to overwrite a published
version, writes an index entry. Provides `published_path`.
"""
import hashlib
import json
import shutil
from pathlib import Path

from _weft import consumed, emit, fail

package, expected, version = Path(consumed("package")), consumed("sha256"), consumed("version")
actual = hashlib.sha256(package.read_bytes()).hexdigest()
if actual != expected:
    fail(f"{package} changed since it was built: sha256 {actual} != {expected}")
target_dir = Path("out/registry/minicalc") / version
if target_dir.exists():
    fail(f"minicalc {version} is already published ({target_dir}); versions are immutable")
target_dir.mkdir(parents=True)
target = target_dir / package.name
shutil.copy2(package, target)
(target_dir / "index.json").write_text(
    json.dumps({"name": "minicalc", "version": version, "file": package.name, "sha256": actual},
               indent=2) + "\n",
    encoding="utf-8")
print(f"published {target}")
emit("published_path", target.as_posix())
