#!/usr/bin/env python3
"""Build: render app/ into a reproducible archive out/build/app-<version>.tar.gz.

Provides `artifact` (path) and `checksum` (sha256); also writes out/build/manifest.json, which the
blocking pre-deploy hook checks.
"""
import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

from _weft import emit

version = Path("app/VERSION").read_text(encoding="utf-8").strip()
html = Path("app/index.html").read_text(encoding="utf-8").replace("{{VERSION}}", version)
build = Path("out/build")
build.mkdir(parents=True, exist_ok=True)
artifact = build / f"app-{version}.tar.gz"
buf = io.BytesIO()
# gzip mtime 0 and fixed member metadata: the same sources always give the same checksum.
with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
    for name, data in [("index.html", html.encode()), ("VERSION", f"{version}\n".encode())]:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), 0, 0o644
        tar.addfile(info, io.BytesIO(data))
artifact.write_bytes(buf.getvalue())
checksum = hashlib.sha256(artifact.read_bytes()).hexdigest()
(build / "manifest.json").write_text(
    json.dumps({"artifact": artifact.as_posix(), "sha256": checksum, "version": version}, indent=2) + "\n")
print(f"built {artifact} ({checksum[:12]})")
emit("artifact", artifact.as_posix())
emit("checksum", checksum)
