"""Paths, publisher credentials and the session ledger."""

from __future__ import annotations

import pytest

from camfleet.gateway import TRANSCODER_USER, PublisherCredentials, SessionLedger, StreamPath, parse_stream_path


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("public-security/street", StreamPath("public-security", "street")),
        ("/public-security/street", StreamPath("public-security", "street")),
        ("public-security/bay-bridge.km12/low", StreamPath("public-security", "bay-bridge.km12", "low")),
        ("public-security", None),
        ("public-security/street/low/extra", None),
        ("public-security/Street", None),
        ("public-security/street/", None),
        ("-bad/street", None),
        ("a/b%20c", None),
    ],
)
def test_stream_paths(path: str, expected: StreamPath | None) -> None:
    assert parse_stream_path(path) == expected


def test_a_stream_path_names_its_camera() -> None:
    path = StreamPath("ns", "cam", "low")

    assert (path.camera_ref, str(path), str(StreamPath("ns", "cam"))) == ("ns/cam", "ns/cam/low", "ns/cam")


def test_publisher_passwords_are_per_camera_and_survive_a_rotation() -> None:
    old = PublisherCredentials([b"o" * 32])
    rotated = PublisherCredentials([b"n" * 32, b"o" * 32])
    password = old.password_for("ns/cam")

    assert password != old.password_for("ns/other")
    assert old.accepts(TRANSCODER_USER, password, "ns/cam")
    assert not old.accepts(TRANSCODER_USER, password, "ns/other")
    assert not old.accepts("someone", password, "ns/cam")
    assert rotated.accepts(TRANSCODER_USER, password, "ns/cam")
    assert rotated.password_for("ns/cam") != password
    assert "o" * 32 not in repr(rotated)


@pytest.mark.parametrize("secrets", [[], [b"short"]])
def test_publisher_secrets_must_exist_and_be_long(secrets: list[bytes]) -> None:
    with pytest.raises(ValueError, match="secret"):
        PublisherCredentials(secrets)


def test_the_ledger_remembers_sessions_per_grant() -> None:
    ledger = SessionLedger()
    ledger.record("s1", "g1")
    ledger.record("s2", "g1")
    ledger.record("s3", "g2")
    ledger.record("s3", "g1")  # the same session re-authenticated under another grant

    assert ledger.sessions_of("g1") == {"s1", "s2", "s3"}
    assert ledger.sessions_of("g2") == frozenset()
    ledger.forget_grant("g1")
    assert ledger.sessions_of("g1") == frozenset()
    assert len(ledger) == 0


def test_the_ledger_is_bounded_and_drops_the_oldest() -> None:
    ledger = SessionLedger(capacity=2)
    for n in range(3):
        ledger.record(f"s{n}", "g")

    assert ledger.sessions_of("g") == {"s1", "s2"}
    with pytest.raises(ValueError, match="room"):
        SessionLedger(capacity=0)
