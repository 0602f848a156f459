#!/usr/bin/env python3
"""Security review: every threat has its test, and the sources use no dangerous constructs.

Consumes `threats` and `dod`. Writes out/security-review.md; fails on any finding.
"""
import re
from pathlib import Path

from _weft import consumed, emit, fail

DANGEROUS = {
    r"\beval\(": "eval() on data",
    r"\bexec\(": "exec() on data",
    r"\bos\.system\(": "os.system() runs a shell",
    r"shell\s*=\s*True": "subprocess with shell=True",
    r"\bpickle\.loads?\(": "unpickling untrusted data",
    r"(?i)(password|secret|api_key|token)\s*=\s*['\"][^'\"]+['\"]": "hard-coded credential",
}


def main():
    threats_path = Path(consumed("threats", "out/threat-model.md"))
    dod_path = Path(consumed("dod", "out/dod-dor.md"))
    findings = []
    threat_ids = re.findall(r"^\|\s*`([a-z_]+)`", threats_path.read_text(encoding="utf-8"), re.M) \
        if threats_path.is_file() else []
    if not threat_ids:
        findings.append(f"no threats found in {threats_path}")
    if not dod_path.is_file():
        findings.append(f"definition of done {dod_path} missing")
    tests = "\n".join(p.read_text(encoding="utf-8") for p in Path("tests").glob("test_*.py"))
    for tid in threat_ids:
        if not re.search(rf"def test_{tid}\(", tests):
            findings.append(f"threat `{tid}` has no test `test_{tid}`")
    for path in sorted(Path("src").rglob("*.py")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for pattern, why in DANGEROUS.items():
                if re.search(pattern, line):
                    findings.append(f"{path}:{n}: {why}")

    out = Path("out")
    out.mkdir(exist_ok=True)
    report = out / "security-review.md"
    report.write_text(
        "# Security review\n\n"
        f"Threats checked: {', '.join(f'`{t}`' for t in threat_ids) or 'none'}\n\n"
        + ("## Findings\n\n" + "".join(f"- {f}\n" for f in findings) if findings else "No findings.\n"),
        encoding="utf-8",
    )
    if findings:
        fail(f"{len(findings)} finding(s), see {report}")
    print(f"no findings; report in {report}")
    emit("review", report.as_posix())


if __name__ == "__main__":
    main()
