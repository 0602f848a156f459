#!/usr/bin/env python3
"""Clarify the Definition of Ready and the Definition of Done from the brief and the threat model.

Consumes `threats` (path of the threat model). Fails if the work is not ready (no acceptance
criteria in the brief, a threat without mitigation). Writes out/dod-dor.md, provides `dod`.
"""
import os
import re
from pathlib import Path

from _weft import consumed, emit, fail

ROW = re.compile(r"^\|\s*`(?P<id>[a-z_]+)`\s*\|\s*(?P<sev>\w+)\s*\|(?P<threat>[^|]*)\|(?P<mit>[^|]*)\|")


def main():
    threats_path = Path(consumed("threats", "out/threat-model.md"))
    brief_path = Path(os.environ.get("FEATURE_BRIEF", "feature.md"))
    if not threats_path.is_file():
        fail(f"threat model {threats_path} not found (run the threat_model stage first)")
    threats = [m.groupdict() for line in threats_path.read_text(encoding="utf-8").splitlines()
               if (m := ROW.match(line))]
    brief = brief_path.read_text(encoding="utf-8") if brief_path.is_file() else ""
    criteria = re.findall(r"^- (.+)$", brief.split("## Acceptance criteria", 1)[-1], re.M) \
        if "## Acceptance criteria" in brief else []

    ready = [
        (f"feature brief `{brief_path}` has acceptance criteria", bool(criteria)),
        ("threat model lists at least one threat", bool(threats)),
        ("every threat has a mitigation", all(t["mit"].strip() for t in threats)),
    ]
    done = [f"acceptance: {c}" for c in criteria]
    done += [f"`test_{t['id']}` passes (threat `{t['id']}`, {t['sev']})" for t in threats]
    done += ["the whole unit test suite passes", "security review reports no findings"]

    out = Path("out")
    out.mkdir(exist_ok=True)
    doc = out / "dod-dor.md"
    doc.write_text(
        "# Definition of Ready\n\n"
        + "".join(f"- [{'x' if ok else ' '}] {text}\n" for text, ok in ready)
        + "\n# Definition of Done\n\n"
        + "".join(f"- [ ] {text}\n" for text in done),
        encoding="utf-8",
    )
    missing = [text for text, ok in ready if not ok]
    if missing:
        fail("not ready: " + "; ".join(missing) + f" (see {doc})")
    print(f"ready; {len(done)} done criteria written to {doc}")
    emit("dod", doc.as_posix())


if __name__ == "__main__":
    main()
