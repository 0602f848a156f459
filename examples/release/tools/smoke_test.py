#!/usr/bin/env python3
"""Install the built archive into a temporary folder and import it.

Consumes `package` and `version`. To show weft's retries this check is deliberately flaky: like a
package mirror that is still warming up, it fails its first FLAKY_FAILURES attempts of a run
(default 0; the plan sets 1). Attempts are counted in out/.smoke-attempts, which the version
step removes at the start of every run.
"""
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from _weft import consumed, fail

package, version = consumed("package"), consumed("version")
counter = Path("out/.smoke-attempts")
attempt = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(attempt))
if attempt <= int(os.environ.get("FLAKY_FAILURES", "0")):
    fail(f"attempt {attempt}: package mirror not ready yet (simulated flake), try again")

with tempfile.TemporaryDirectory(prefix="minicalc-smoke-") as tmp:
    with tarfile.open(package) as tar:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: refuse unsafe members
            tar.extractall(tmp, filter="data")
        else:
            tar.extractall(tmp)
    root = Path(tmp) / f"minicalc-{version}"
    probe = ("import minicalc, sys; "
             "assert minicalc.__version__ == sys.argv[1], minicalc.__version__; "
             "assert minicalc.add(2, 3) == 5; assert minicalc.mean([2, 4]) == 3; "
             "print('import ok')")
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    proc = subprocess.run([sys.executable, "-c", probe, version], cwd=tmp, env=env,
                          capture_output=True, text=True, timeout=30)
    sys.stdout.write(proc.stdout)
    if proc.returncode:
        fail(f"smoke test of {package} failed:\n{proc.stderr}")
    if not (root / "docs" / "index.md").is_file():
        fail(f"{package} has no docs/index.md")
print(f"attempt {attempt}: {package} installs and imports as minicalc {version}")
