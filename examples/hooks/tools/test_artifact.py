#!/usr/bin/env python3
"""Test the built archive: checksum, expected files, no unrendered template placeholders."""
import hashlib
import tarfile

from _weft import consumed, fail

artifact, checksum = consumed("artifact"), consumed("checksum")
if hashlib.sha256(open(artifact, "rb").read()).hexdigest() != checksum:
    fail(f"{artifact} does not match its checksum")
with tarfile.open(artifact) as tar:
    names = sorted(tar.getnames())
    if names != ["VERSION", "index.html"]:
        fail(f"unexpected archive contents: {names}")
    html = tar.extractfile("index.html").read().decode()
if "{{" in html or "TODO" in html:
    fail("index.html still contains a template placeholder or TODO")
print(f"{artifact}: contents and checksum ok")
