#!/usr/bin/env python3
"""Fallback for the TDD cycle: hand the definition of done to a person.

Writes out/manual-tdd.md, a checklist built from the definition of done. Succeeds only when
someone has signed it off by setting MANUAL_TDD_SIGNOFF=<name>; the sign-off is recorded.
"""
import os
from datetime import datetime, timezone
from pathlib import Path

from _weft import consumed, fail


def main():
    dod_path = Path(consumed("dod", "out/dod-dor.md"))
    dod = dod_path.read_text(encoding="utf-8") if dod_path.is_file() else "(definition of done missing)\n"
    signer = os.environ.get("MANUAL_TDD_SIGNOFF", "").strip()
    out = Path("out")
    out.mkdir(exist_ok=True)
    sheet = out / "manual-tdd.md"
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    sheet.write_text(
        "# Manual TDD sign-off\n\nThe automated TDD cycle failed. Verify each item by hand.\n\n"
        + dod.split("# Definition of Done", 1)[-1].strip() + "\n\n"
        + (f"Signed off by {signer} at {stamp}.\n" if signer else "Not signed off yet.\n"),
        encoding="utf-8",
    )
    if not signer:
        fail(f"checklist written to {sheet}; re-run with MANUAL_TDD_SIGNOFF=<your name> once verified")
    print(f"manual TDD signed off by {signer}; see {sheet}")


if __name__ == "__main__":
    main()
