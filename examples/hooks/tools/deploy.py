#!/usr/bin/env python3
"""Deploy the archive into out/deploy/<channel>/releases/<sha> and switch the `current` link.

Consumes `artifact` and `checksum`; input `channel` (`with:`). Provides `release_dir`.
`deploy.py --rollback` (the plugin's rollback action) switches `current` back to the previous release.
"""
import os
import sys
import tarfile
from pathlib import Path

from _weft import consumed, emit, fail, inputs

channel = str(inputs({"channel": "staging"})["channel"])
root = Path("out/deploy") / channel
current = root / "current"


def switch(target):
    """Point `current` at `target` atomically (symlink created aside, then renamed over)."""
    tmp = root / ".current.tmp"
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(Path("releases") / target, target_is_directory=True)
    os.replace(tmp, current)


if sys.argv[1:] == ["--rollback"]:
    previous = root / "previous"
    if previous.is_file() and previous.read_text().strip():
        switch(previous.read_text().strip())
        print(f"{channel}: current -> {previous.read_text().strip()}")
    elif current.is_symlink():
        current.unlink()
        print(f"{channel}: no previous release, current removed")
    sys.exit(0)

artifact, checksum = consumed("artifact"), consumed("checksum")
release = checksum[:12]
target = root / "releases" / release
target.mkdir(parents=True, exist_ok=True)
with tarfile.open(artifact) as tar:
    for member in tar.getmembers():
        if not member.isfile() or "/" in member.name or member.name.startswith("."):
            fail(f"refusing archive member {member.name!r}")
        (target / member.name).write_bytes(tar.extractfile(member).read())
if current.is_symlink() and os.readlink(current).split("/")[-1] != release:
    (root / "previous").write_text(os.readlink(current).split("/")[-1] + "\n")
switch(release)
print(f"{channel}: deployed {artifact} as release {release}")
emit("release_dir", target.as_posix())
