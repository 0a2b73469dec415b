"""Print the phase timings of `make test` and one closing line with the test counts of every phase."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path


def main(phases_file: str, artifacts: str) -> int:
    rows = [line.split("\t") for line in Path(phases_file).read_text().splitlines() if line.strip()]
    print("\nphase          seconds  result")
    for name, seconds, result in rows:
        print(f"{name:<14} {float(seconds):>7.1f}  {result}")
    print(f"{'total':<14} {sum(float(s) for _, s, _ in rows):>7.1f}")

    passed = failed = skipped = 0
    for report in sorted(Path(artifacts).glob("junit-*.xml")):
        for suite in ElementTree.parse(report).getroot().iter("testsuite"):
            total = int(suite.get("tests", 0))
            bad = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skip = int(suite.get("skipped", 0))
            passed += total - bad - skip
            failed += bad
            skipped += skip
    broken = [name for name, _, result in rows if result != "ok"]
    if broken:
        print(f"\nfailed phases: {', '.join(broken)}")
    print(f"\n{passed} passed, {failed} failed, {skipped} skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
