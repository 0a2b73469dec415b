"""The chain's history rules: retention and hold in force, back-dating, reused names, time order, checkpoints."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from camfleet.recorder_pod import verify as verify_cli
from camfleet.recorder_pod.checkpoint import CheckpointError, key_id, load_checkpoint, load_public_keys, sign
from camfleet.recorder_pod.manifest import Manifest, Policy, chain_hash, to_timestamp
from camfleet.recorder_pod.retention import SECONDS_PER_DAY
from camfleet.recorder_pod.storage import MANIFEST_NAME, segments_dir
from camfleet.recorder_pod.verify import (
    BACK_DATED,
    NON_MONOTONIC,
    PRUNED_EARLY,
    REUSED_NAME,
    TAIL_REWRITTEN,
    TAIL_TRUNCATED,
    verify,
)
from tests.unit.recorder.test_manifest_verify import T0, manifest_lines, record, segment_name, write_lines

DAY = SECONDS_PER_DAY


def forge(data_dir: Path, fields: dict[str, Any]) -> int:
    lines = manifest_lines(data_dir)
    line: dict[str, Any] = {"seq": int(str(lines[-1]["seq"])) + 1, "prev": lines[-1]["chain"], **fields}
    line["chain"] = chain_hash(str(lines[-1]["chain"]), line)
    write_lines(data_dir, [*lines, line])
    return int(line["seq"])


def test_lines_carry_the_policy_in_force_and_a_change_is_a_line(tmp_path: Path) -> None:
    manifest = record(tmp_path, 1)
    assert manifest.enforce(Policy(90, True), T0 + 10)
    assert not Manifest.open(tmp_path).enforce(Policy(90, True), T0 + 11)
    lines = manifest_lines(tmp_path)
    assert (lines[0]["retentionDays"], lines[0]["legalHold"]) == (30, False)
    assert lines[1]["kind"] == "policy"
    assert (lines[1]["retentionDays"], lines[1]["legalHold"]) == (90, True)
    assert verify(tmp_path, now=T0 + 60).intact


def test_a_prune_is_judged_against_the_largest_retention_since_the_segment_was_written(tmp_path: Path) -> None:
    manifest = record(tmp_path, 1)
    manifest.enforce(Policy(90, False), T0 + 6)
    manifest.record_segment(segment_name(9), 0, EMPTY_SHA256, T0 + 6, T0 + 10, recovered=False)
    (segments_dir(tmp_path) / segment_name(9)).write_bytes(b"")
    manifest.enforce(Policy(30, False), T0 + 20)
    manifest.record_prune(segment_name(1), pruned_at=T0 + 31 * DAY, retention_seconds=30 * DAY)
    broken = verify(tmp_path, now=T0 + 31 * DAY).first_break
    assert broken is not None
    assert (broken.kind, broken.segment, broken.line) == (PRUNED_EARLY, segment_name(1), 5)
    assert "retention of 90 days in force at line 2" in broken.detail
    assert any("retention lowered from 90 to 30 days at line 4" in note for note in _notes_upto(tmp_path, 4))


def _notes_upto(data_dir: Path, keep: int) -> list[str]:
    write_lines(data_dir, manifest_lines(data_dir)[:keep])
    return verify(data_dir, now=T0 + 60).notes


def test_a_prune_while_a_hold_is_in_force_is_early_and_a_recorded_lift_is_noted(tmp_path: Path) -> None:
    manifest = record(tmp_path, 2)
    manifest.enforce(Policy(30, True), T0 + 20)
    manifest.record_prune(segment_name(1), pruned_at=T0 + 40 * DAY, retention_seconds=30 * DAY)
    broken = verify(tmp_path, now=T0 + 40 * DAY).first_break
    assert broken is not None
    assert (broken.kind, broken.line) == (PRUNED_EARLY, 4)
    assert "legal hold in force since line 3" in broken.detail

    write_lines(tmp_path, manifest_lines(tmp_path)[:3])
    lifted = Manifest.open(tmp_path)
    lifted.enforce(Policy(30, False), T0 + 40 * DAY)
    lifted.record_prune(segment_name(1), pruned_at=T0 + 40 * DAY, retention_seconds=30 * DAY)
    verdict = verify(tmp_path, now=T0 + 40 * DAY)
    assert verdict.intact, verdict.first_break
    assert any("legal hold lifted at line 4" in note for note in verdict.notes)


def test_old_lines_without_policy_are_judged_against_the_floor_and_noted(tmp_path: Path) -> None:
    record(tmp_path, 2)
    old = []
    prev = "0" * 64
    for line in manifest_lines(tmp_path):
        body = {k: v for k, v in line.items() if k not in ("retentionDays", "legalHold", "written", "chain", "prev")}
        body["prev"] = prev
        body["chain"] = prev = chain_hash(prev, body)
        old.append(body)
    write_lines(tmp_path, old)
    verdict = verify(tmp_path, now=T0 + 60)
    assert verdict.intact, verdict.first_break
    assert any("2 lines predate recorded retention and hold" in note for note in verdict.notes)


def test_a_segment_starting_before_the_previous_ended_is_back_dated(tmp_path: Path) -> None:
    record(tmp_path, 2)
    line = forge(tmp_path, _segment(segment_name(3), T0 - 60 * DAY, written=T0 + 20))
    broken = verify(tmp_path, now=T0 + 60).first_break
    assert broken is not None
    assert (broken.kind, broken.segment, broken.line) == (BACK_DATED, segment_name(3), line)


def test_a_small_overlap_is_tolerated_and_an_old_end_against_its_write_time_is_not(tmp_path: Path) -> None:
    record(tmp_path, 2)
    forge(tmp_path, _segment(segment_name(3), T0 + 10 - 30, written=T0 + 20))
    assert verify(tmp_path, now=T0 + 60).intact
    forge(tmp_path, _segment(segment_name(4), T0 + 20, written=T0 + 3 * 3600))
    broken = verify(tmp_path, now=T0 + 4 * 3600).first_break
    assert broken is not None
    assert (broken.kind, broken.line) == (BACK_DATED, 4)
    assert "long before its line was written" in broken.detail


def test_time_running_backwards_or_into_the_future_is_named(tmp_path: Path) -> None:
    record(tmp_path, 2)
    forge(tmp_path, _segment(segment_name(3), T0 + 10, written=T0 - DAY))
    broken = verify(tmp_path, now=T0 + 60).first_break
    assert broken is not None
    assert (broken.kind, broken.line) == (NON_MONOTONIC, 3)

    write_lines(tmp_path, manifest_lines(tmp_path)[:2])
    forge(tmp_path, _segment(segment_name(3), T0 + 10 * DAY, written=T0 + 10 * DAY))
    broken = verify(tmp_path, now=T0 + 60).first_break
    assert broken is not None
    assert (broken.kind, broken.line) == (NON_MONOTONIC, 3)
    assert "in the future" in broken.detail


def test_a_reused_pruned_name_is_named(tmp_path: Path) -> None:
    record(tmp_path, 2).record_prune(segment_name(1), pruned_at=T0 + 31 * DAY, retention_seconds=30 * DAY)
    (segments_dir(tmp_path) / segment_name(1)).write_bytes(b"")  # other content under the pruned name
    line = forge(tmp_path, _segment(segment_name(1), T0 + 31 * DAY + 10, written=T0 + 31 * DAY + 15))
    broken = verify(tmp_path, now=T0 + 31 * DAY + 60).first_break
    assert broken is not None
    assert (broken.kind, broken.segment, broken.line) == (REUSED_NAME, segment_name(1), line)


EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def _segment(name: str, start: float, written: float) -> dict[str, Any]:
    return {
        "kind": "segment",
        "name": name,
        "size": 0,
        "sha256": EMPTY_SHA256,
        "start": to_timestamp(start),
        "end": to_timestamp(start + 5),
        "retentionDays": 30,
        "legalHold": False,
        "written": to_timestamp(written),
    }


@pytest.fixture(autouse=True)
def empty_segment_files(tmp_path: Path) -> None:
    """Forged segment lines name empty files (sha256 of nothing) so only the rule under test can break."""
    segments_dir(tmp_path).mkdir(parents=True, exist_ok=True)
    for number in range(3, 10):
        (segments_dir(tmp_path) / segment_name(number)).write_bytes(b"")


# -- checkpoints ---------------------------------------------------------------------------------------------------

KEY = Ed25519PrivateKey.generate()
KID = key_id(KEY.public_key())


def jwks_text(key: Ed25519PrivateKey = KEY) -> str:
    raw = key.public_key().public_bytes_raw()
    x = base64.urlsafe_b64encode(raw).decode().rstrip("=")  # as the operator's JWKS publishes it
    return json.dumps({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": key_id(key.public_key())}]})


def checkpoint_file(tmp_path: Path, seq: int, head: str, **changes: Any) -> Path:
    checkpoint = sign("ns/cam", seq, head, "2026-01-01T00:01:00.000000Z", KID, KEY)
    path = tmp_path / "checkpoint.json"
    path.write_text(json.dumps({**checkpoint.to_json(), **changes}))
    (tmp_path / "jwks.json").write_text(jwks_text())
    return path


def test_a_signed_checkpoint_round_trips_and_verifies() -> None:
    checkpoint = sign("ns/cam", 3, "a" * 64, "2026-01-01T00:00:00Z", KID, KEY)
    again = load_checkpoint(json.loads(json.dumps(checkpoint.to_json())))
    again.check_signature(load_public_keys(jwks_text()))
    with pytest.raises(CheckpointError, match="does not verify"):
        load_checkpoint({**checkpoint.to_json(), "seq": 2}).check_signature(load_public_keys(jwks_text()))
    with pytest.raises(CheckpointError, match="not among"):
        again.check_signature(load_public_keys(jwks_text(Ed25519PrivateKey.generate())))
    with pytest.raises(CheckpointError, match="head"):
        load_checkpoint({**checkpoint.to_json(), "head": "xyz"})


def test_verify_names_a_truncated_and_a_rewritten_tail(tmp_path: Path) -> None:
    record(tmp_path, 4)
    lines = manifest_lines(tmp_path)
    head = str(lines[3]["chain"])
    write_lines(tmp_path, lines[:2])
    checkpoint = load_checkpoint(json.loads(checkpoint_file(tmp_path, 4, head).read_text()))
    broken = verify(tmp_path, now=T0 + 60, checkpoint=checkpoint).first_break
    assert broken is not None
    assert (broken.kind, broken.line) == (TAIL_TRUNCATED, 3)

    write_lines(tmp_path, lines)
    checkpoint = load_checkpoint(json.loads(checkpoint_file(tmp_path, 2, "b" * 64).read_text()))
    broken = verify(tmp_path, now=T0 + 60, checkpoint=checkpoint).first_break
    assert broken is not None
    assert (broken.kind, broken.segment, broken.line) == (TAIL_REWRITTEN, segment_name(2), 2)


def test_cli_refuses_a_forged_checkpoint_and_accepts_a_good_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record(tmp_path, 3)
    head = str(manifest_lines(tmp_path)[2]["chain"])
    keys = str(tmp_path / "jwks.json")
    good = checkpoint_file(tmp_path, 3, head)
    assert verify_cli.main([str(tmp_path), "--checkpoint", str(good), "--keys", keys]) == 0
    assert "matches the checkpoint" in capsys.readouterr().out
    bad = checkpoint_file(tmp_path, 3, head, time="2027-01-01T00:00:00Z")
    assert verify_cli.main([str(tmp_path), "--checkpoint", str(bad), "--keys", keys]) == 3
    assert "checkpoint refused: the signature does not verify" in capsys.readouterr().out
    assert verify_cli.main([str(tmp_path), "--checkpoint", str(bad)]) == 3
    assert (tmp_path / MANIFEST_NAME).exists()


def test_key_ids_are_the_operators_jwks_key_ids() -> None:
    from datetime import UTC, datetime

    from camfleet.access.tokens import SigningKeys, jwks

    keys = SigningKeys.generate(datetime.now(UTC))
    assert key_id(keys.active.public_key) == keys.active.kid
    assert list(load_public_keys(json.dumps(jwks(keys)))) == [keys.active.kid]
