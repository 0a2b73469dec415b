"""`camfleet run` refuses timing flags that would break a promise before it touches any cluster."""

from __future__ import annotations

import pytest

from camfleet.cli import main


@pytest.mark.parametrize(
    "flags",
    [
        ["--tier-credential-lifetime-seconds=40", "--tier-credential-rotate-before-seconds=40"],
        ["--tier-credential-rotate-before-seconds=0"],
        ["--ptz-silent-after-seconds=0"],
    ],
)
def test_a_rotation_lead_not_below_the_lifetime_or_a_silence_timeout_of_nothing_is_refused(
    flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A credential rotated no earlier than it is issued would be rewritten in a loop; a zero timeout would take
    the camera from every holder between two commands."""
    assert main(["run", *flags]) == 2
    assert "--tier-credential-rotate-before-seconds" in capsys.readouterr().err
