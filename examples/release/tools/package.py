#!/usr/bin/env python3
"""Build a reproducible source archive out/dist/minicalc-<version>.tar.gz.

Consumes `version` and `docs_index`; provides `package` (path) and `sha256`.
"""
import gzip
import hashlib
import io
import tarfile
from pathlib import Path

from _weft import consumed, emit

version = consumed("version")
docs_dir = Path(consumed("docs_index")).parent
name = f"minicalc-{version}"
dist = Path("out/dist")
dist.mkdir(parents=True, exist_ok=True)
archive = dist / f"{name}.tar.gz"

members = [Path("VERSION"), Path("CHANGELOG.md"), *sorted(Path("src/minicalc").glob("*.py")),
           *sorted(docs_dir.glob("*"))]
buf = io.BytesIO()
# gzip with mtime 0 and fixed member metadata: same sources, same bytes, same sha256.
with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, \
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
    for path in members:
        inside = f"docs/{path.name}" if docs_dir in path.parents else path.as_posix()
        arcname = f"{name}/{inside}"
        info = tar.gettarinfo(str(path), arcname)
        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""  # reproducible
        with path.open("rb") as f:
            tar.addfile(info, f)
archive.write_bytes(buf.getvalue())
digest = hashlib.sha256(archive.read_bytes()).hexdigest()
print(f"{archive}: {len(members)} files, sha256 {digest}")
emit("package", archive.as_posix())
emit("sha256", digest)
