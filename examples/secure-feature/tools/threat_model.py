#!/usr/bin/env python3
"""Threat model: match the feature brief against a small threat catalogue.

Inputs (`with:`): component (the module under src/ to model), severity (lowest severity to list).
Writes out/threat-model.md and provides `threats` = that file's path.
"""
import os
import re
from pathlib import Path

from _weft import emit, fail, inputs

SEVERITY = {"low": 0, "medium": 1, "high": 2}

# id -> (keywords in the feature brief that trigger it, severity, threat, mitigation)
CATALOGUE = {
    "path_traversal": (["file name", "path"], "high",
                       "A crafted title (`../../x`) makes the file name escape the target folder.",
                       "Map every character outside [a-z0-9] to `-`; never keep `/`, `\\` or `..`."),
    "oversized_input": (["user input", "untrusted"], "medium",
                        "A huge title costs CPU and memory on every request (denial of service).",
                        "Reject titles over a fixed length before any processing; cap the slug length."),
    "control_characters": (["user input", "untrusted"], "medium",
                           "Control characters (NUL, newline, ANSI escapes) end up in file names and logs.",
                           "Drop everything that is not a letter or digit."),
    "reserved_names": (["file name"], "low",
                       "Device names such as `CON` or `LPT1` cannot be created as files on Windows.",
                       "Suffix reserved names."),
    "unicode_confusables": (["unicode"], "low",
                            "Look-alike characters produce different files that display the same name.",
                            "Fold to ASCII with NFKD normalisation before slugging."),
}


def main():
    args = inputs({"component": "slugify", "severity": "low"})
    minimum = SEVERITY.get(str(args["severity"]))
    if minimum is None:
        fail(f"unknown severity {args['severity']!r}; expected one of {', '.join(SEVERITY)}")
    brief_path = Path(os.environ.get("FEATURE_BRIEF", "feature.md"))
    source = Path("src") / f"{args['component']}.py"
    if not brief_path.is_file():
        fail(f"feature brief {brief_path} not found")
    if not source.is_file():
        fail(f"component source {source} not found")
    brief = brief_path.read_text(encoding="utf-8").lower()
    brief = re.sub(r"[*_`]", "", brief)

    rows = []
    for tid, (keywords, severity, threat, mitigation) in CATALOGUE.items():
        if SEVERITY[severity] >= minimum and any(k in brief for k in keywords):
            rows.append(f"| `{tid}` | {severity} | {threat} | {mitigation} | `test_{tid}` |")
    if not rows:
        fail("no threats identified: is the feature brief complete?")

    out = Path("out")
    out.mkdir(exist_ok=True)
    report = out / "threat-model.md"
    report.write_text(
        f"# Threat model: `{source}`\n\n"
        f"Brief: `{brief_path}`; severities `{args['severity']}` and above.\n\n"
        "| id | severity | threat | mitigation | verified by |\n"
        "|---|---|---|---|---|\n" + "\n".join(rows) + "\n",
        encoding="utf-8",
    )
    print(f"{len(rows)} threats written to {report}")
    emit("threats", report.as_posix())


if __name__ == "__main__":
    main()
