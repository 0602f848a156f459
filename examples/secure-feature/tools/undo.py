#!/usr/bin/env python3
"""Rollback action: remove files a stage generated. Refuses paths outside this example's out/."""
import sys
from pathlib import Path

out = Path("out").resolve()
for arg in sys.argv[1:]:
    path = Path(arg).resolve()
    if out not in path.parents:
        sys.exit(f"error: refusing to remove {arg}: not under out/")
    if path.is_file():
        path.unlink()
        print(f"removed {arg}")
