#!/usr/bin/env python3
"""TDD cycle gate: red (every required test exists) then green (the suite passes).

Consumes `dod`; every "`test_<id>` passes" line in it names a test that must exist in tests/.
Writes out/tdd-report.md and provides `test_report`.
"""
import re
import subprocess
import sys
from pathlib import Path

from _weft import consumed, emit, fail


def main():
    dod_path = Path(consumed("dod", "out/dod-dor.md"))
    if not dod_path.is_file():
        fail(f"definition of done {dod_path} not found")
    required = re.findall(r"`(test_[a-z_]+)` passes", dod_path.read_text(encoding="utf-8"))
    test_src = "\n".join(p.read_text(encoding="utf-8") for p in sorted(Path("tests").glob("test_*.py")))
    defined = set(re.findall(r"^\s*def (test_\w+)\(", test_src, re.M))
    missing = [t for t in required if t not in defined]

    lines = ["# TDD report", "", "## Red: tests written first", ""]
    lines += [f"- [{' ' if t in missing else 'x'}] `{t}`" for t in required]
    green = None
    if not missing:
        proc = subprocess.run([sys.executable, "-m", "unittest", "discover", "-s", "tests"],
                              capture_output=True, text=True, timeout=60)
        green = proc.returncode == 0
        summary = [l for l in proc.stderr.splitlines() if l.startswith(("Ran ", "OK", "FAILED"))]
        lines += ["", "## Green: suite", "", "```", *summary, "```"]
        if not green:
            sys.stderr.write(proc.stderr)

    out = Path("out")
    out.mkdir(exist_ok=True)
    report = out / "tdd-report.md"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if missing:
        fail("red phase incomplete, write these tests first: " + ", ".join(missing))
    if not green:
        fail(f"test suite fails (see {report})")
    print(f"{len(required)} threat tests present, suite green; report in {report}")
    emit("test_report", report.as_posix())


if __name__ == "__main__":
    main()
