"""`python -m camfleet.recorder_pod [flags]` records; `... verify DIR` checks a recording."""

from __future__ import annotations

import sys

from camfleet.recorder_pod import cli, verify


def main(argv: list[str]) -> int:
    if argv[:1] == ["verify"]:
        return verify.main(argv[1:])
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
