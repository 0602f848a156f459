#!/usr/bin/env python3
"""A small linter: syntax, tabs, trailing whitespace, line length, final newline.

Usage: lint.py PATH...  (directories are searched for *.py). Exit 1 on any problem.
"""
import sys
from pathlib import Path

MAX_LINE = 100
problems = 0
files = []
for arg in sys.argv[1:] or ["."]:
    p = Path(arg)
    files += sorted(p.rglob("*.py")) if p.is_dir() else [p]

for path in files:
    text = path.read_text(encoding="utf-8")
    try:
        compile(text, str(path), "exec")
    except SyntaxError as e:
        print(f"{path}:{e.lineno}: syntax error: {e.msg}")
        problems += 1
        continue
    for n, line in enumerate(text.splitlines(), 1):
        for bad, why in [("\t" in line, "tab character"),
                         (line != line.rstrip(), "trailing whitespace"),
                         (len(line) > MAX_LINE, f"line longer than {MAX_LINE} characters")]:
            if bad:
                print(f"{path}:{n}: {why}")
                problems += 1
    if text and not text.endswith("\n"):
        print(f"{path}: no newline at end of file")
        problems += 1

print(f"lint: {len(files)} files, {problems} problem(s)")
sys.exit(1 if problems else 0)
