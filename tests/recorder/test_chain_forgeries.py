"""Forgeries of a real recording's chain (issue 15, attack 2): each is named by `camfleet verify`.

One real recording is shared, each test working on its own copy: real ffmpeg copies the simulator's RTSP stream
under a 90-day policy for three segments (the "ninety" snapshot), then the recorder is restarted under a legal
hold and records two more (the "held" volume); while it records, the operator's view of the chain head is read
from its `/chain` endpoint and signed as the operator's checkpointer does.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from camfleet.access.tokens import SigningKeys, jwks
from camfleet.recorder_pod.checkpoint import sign
from camfleet.recorder_pod.clock import ManualClock
from camfleet.recorder_pod.config import RecorderConfig
from camfleet.recorder_pod.manifest import chain_hash, from_timestamp, to_timestamp
from camfleet.recorder_pod.retention import SECONDS_PER_DAY
from camfleet.recorder_pod.storage import MANIFEST_NAME, segments_dir
from camfleet.recorder_pod.supervisor import Recorder
from camfleet.recorder_pod.verify import (
    BACK_DATED,
    NON_MONOTONIC,
    PRUNED_EARLY,
    REUSED_NAME,
    Break,
    verify,
)
from tests.recorder.conftest import (
    RecorderProcess,
    cleaned_up,
    copy_recording,
    manifest_lines,
    recorded_segments,
    run_verify,
    wait_for,
)

PASSWORD = "chain-forgery-pw"
DAY = SECONDS_PER_DAY


@dataclass(frozen=True)
class Recorded:
    ninety: Path  # three+ segments under a 90-day policy
    held: Path  # the same, then a legal hold and two+ more segments
    head: dict[str, Any]  # what /chain served while recording under the hold


def chain_endpoint(recorder: RecorderProcess) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{recorder.port}/chain", timeout=5) as response:
        body: dict[str, Any] = json.loads(response.read())
        return body


@pytest.fixture(scope="module")
def recorded(rtsp_port: int, tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    root = tmp_path_factory.mktemp("chain")
    data_dir = root / "volume"
    url = f"rtsp://127.0.0.1:{rtsp_port}/cam/gate-2/main"
    with cleaned_up() as started:
        first = RecorderProcess(data_dir, url, PASSWORD, root / "first.log", "--retention-days", "90")
        started.append(first)
        wait_for(lambda: len(recorded_segments(data_dir)) >= 3, 60, "three segments under a 90-day policy")
        assert first.terminate() == 0
        ninety = copy_recording(data_dir, root / "ninety")

        held = RecorderProcess(
            data_dir, url, PASSWORD, root / "held.log", "--retention-days", "90", "--legal-hold", "true"
        )
        started.append(held)
        before = len(recorded_segments(data_dir))
        wait_for(lambda: len(recorded_segments(data_dir)) >= before + 2, 60, "two segments under a legal hold")
        head = chain_endpoint(held)
        wait_for(lambda: len(manifest_lines(data_dir)) > head["seq"] + 1, 30, "lines after the checkpoint")
        assert held.terminate() == 0
    return Recorded(ninety, data_dir, head)


# -- forging helpers: what an attacker with write access to the volume does --------------------------------------


def forge(data_dir: Path, fields: dict[str, Any]) -> int:
    """Append a line with a correct seq, link and chain hash; its line number."""
    lines = manifest_lines(data_dir)
    last = lines[-1]
    line = {"seq": last["seq"] + 1, "prev": last["chain"], **fields}
    line["chain"] = chain_hash(str(last["chain"]), line)
    with (data_dir / MANIFEST_NAME).open("a") as manifest:
        manifest.write(json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n")
    return int(line["seq"])


def forged_prune(name: str, at: float, retention_days: float = 30) -> dict[str, Any]:
    return {
        "kind": "prune",
        "name": name,
        "pruned_at": to_timestamp(at),
        "retention_seconds": retention_days * DAY,
        "retentionDays": retention_days,
        "legalHold": False,
        "written": to_timestamp(at),
    }


def end_of(line: dict[str, Any]) -> float:
    return from_timestamp(str(line["end"]))


def named(broken: Break | None, line: int, segment: str, kind: str) -> Break:
    assert broken is not None
    assert (broken.line, broken.segment, broken.kind) == (line, segment, kind), broken
    return broken


# -- the chain records the policy in force -----------------------------------------------------------------------


def test_every_line_records_the_retention_and_hold_in_force(recorded: Recorded) -> None:
    lines = manifest_lines(recorded.held)
    policy = [line for line in lines if line["kind"] == "policy"]
    assert len(policy) == 1
    assert (policy[0]["retentionDays"], policy[0]["legalHold"]) == (90, True)
    turn = lines.index(policy[0])
    assert all((line["retentionDays"], line["legalHold"]) == (90, False) for line in lines[:turn])
    assert all((line["retentionDays"], line["legalHold"]) == (90, True) for line in lines[turn:])
    assert all("written" in line for line in lines)
    assert (recorded.head["retentionDays"], recorded.head["legalHold"]) == (90, True)
    verified = run_verify(recorded.held)
    assert verified.returncode == 0, verified.stdout


# -- early deletions -----------------------------------------------------------------------------------------------


def test_a_prune_under_a_90_day_policy_is_named_an_early_deletion(recorded: Recorded, tmp_path: Path) -> None:
    data_dir = copy_recording(recorded.ninety, tmp_path / "volume")
    victim = recorded_segments(data_dir)[0]
    at = end_of(victim) + 31 * DAY  # past the 30-day floor the forged line claims, inside the real 90 days
    line = forge(data_dir, forged_prune(victim["name"], at))
    (segments_dir(data_dir) / victim["name"]).unlink()

    broken = named(verify(data_dir, now=at + 60).first_break, line, victim["name"], PRUNED_EARLY)
    assert "retention of 90 days in force at line 1" in broken.detail


def test_lowering_the_retention_first_does_not_shorten_what_was_recorded_under_90_days(
    recorded: Recorded, tmp_path: Path
) -> None:
    data_dir = copy_recording(recorded.ninety, tmp_path / "volume")
    victim = recorded_segments(data_dir)[0]
    at = end_of(victim) + 31 * DAY
    forge(data_dir, {"kind": "policy", "retentionDays": 30, "legalHold": False, "written": to_timestamp(at - 60)})
    line = forge(data_dir, forged_prune(victim["name"], at))
    (segments_dir(data_dir) / victim["name"]).unlink()
    named(verify(data_dir, now=at + 60).first_break, line, victim["name"], PRUNED_EARLY)


def test_the_recorder_prunes_a_90_day_segment_only_after_90_days_and_verify_accepts_it(
    recorded: Recorded, tmp_path: Path
) -> None:
    data_dir = copy_recording(recorded.ninety, tmp_path / "volume")
    first = recorded_segments(data_dir)[0]
    config = RecorderConfig(
        stream_url="rtsp://unused/", username=None, password=None, data_dir=data_dir, retention_days=90
    )
    for seconds, expected in ((89 * DAY, []), (90 * DAY + 1, [first["name"]])):
        now = end_of(first) + seconds
        recorder = Recorder(config, ManualClock(now))
        recorder.open_volume()
        try:
            assert recorder.prune() == expected
        finally:
            recorder.close_volume()
    verdict = verify(data_dir, now=now)
    assert verdict.intact, verdict.first_break
    assert verdict.pruned == 1


def test_a_prune_under_legal_hold_is_named_an_early_deletion(recorded: Recorded, tmp_path: Path) -> None:
    data_dir = copy_recording(recorded.held, tmp_path / "volume")
    lines = manifest_lines(data_dir)
    hold_line = next(line["seq"] for line in lines if line["kind"] == "policy")
    victim = recorded_segments(data_dir)[0]
    at = end_of(victim) + 91 * DAY  # past even the 90 days: only the hold forbids it
    line = forge(data_dir, forged_prune(victim["name"], at, retention_days=90))
    (segments_dir(data_dir) / victim["name"]).unlink()

    broken = named(verify(data_dir, now=at + 60).first_break, line, victim["name"], PRUNED_EARLY)
    assert f"legal hold in force since line {hold_line}" in broken.detail


# -- back-dated appends, reused names, time running backwards ----------------------------------------------------


def append_copy_of_a_segment(data_dir: Path, name: str, start: float, end: float, written: float) -> int:
    """A real segment's bytes under a new name, with a line that says it was recorded at `start`..`end`."""
    source = recorded_segments(data_dir)[-1]
    path = segments_dir(data_dir) / name
    if path.exists():
        path.unlink()
    shutil.copyfile(segments_dir(data_dir) / source["name"], path)
    return forge(
        data_dir,
        {
            "kind": "segment",
            "name": name,
            "size": source["size"],
            "sha256": source["sha256"],
            "start": to_timestamp(start),
            "end": to_timestamp(end),
            "retentionDays": 90,
            "legalHold": False,
            "written": to_timestamp(written),
        },
    )


def test_a_segment_back_dated_60_days_is_named(recorded: Recorded, tmp_path: Path) -> None:
    data_dir = copy_recording(recorded.ninety, tmp_path / "volume")
    last = recorded_segments(data_dir)[-1]
    written = from_timestamp(str(manifest_lines(data_dir)[-1]["written"])) + 5
    start = written - 60 * DAY
    name = "seg-000009999.ts"
    line = append_copy_of_a_segment(data_dir, name, start, start + 5, written)

    verified = run_verify(data_dir)
    assert verified.returncode == 1
    assert f"chain broken at {name}: {BACK_DATED} (it starts {to_timestamp(start)}, before {last['name']}" in (
        verified.stdout
    )
    assert f"[line {line}]" in verified.stdout


def test_a_back_dated_segment_with_a_back_dated_write_time_is_named(recorded: Recorded, tmp_path: Path) -> None:
    data_dir = copy_recording(recorded.ninety, tmp_path / "volume")
    start = end_of(recorded_segments(data_dir)[-1]) - 60 * DAY
    line = append_copy_of_a_segment(data_dir, "seg-000009999.ts", start, start + 5, start + 5)
    named(verify(data_dir).first_break, line, "seg-000009999.ts", NON_MONOTONIC)


def test_a_segment_line_reusing_a_pruned_name_with_other_content_is_named(recorded: Recorded, tmp_path: Path) -> None:
    data_dir = copy_recording(recorded.ninety, tmp_path / "volume")
    first = recorded_segments(data_dir)[0]
    now = end_of(first) + 90 * DAY + 1
    config = RecorderConfig(
        stream_url="rtsp://unused/", username=None, password=None, data_dir=data_dir, retention_days=90
    )
    recorder = Recorder(config, ManualClock(now))
    recorder.open_volume()
    try:
        assert recorder.prune() == [first["name"]]
    finally:
        recorder.close_volume()
    line = append_copy_of_a_segment(data_dir, first["name"], now + 1, now + 6, now + 7)

    broken = named(verify(data_dir, now=now + 60).first_break, line, first["name"], REUSED_NAME)
    assert f"already recorded at line {first['seq']}" in broken.detail


# -- truncation against a signed checkpoint --------------------------------------------------------------------


@pytest.fixture
def operator_keys(tmp_path: Path) -> tuple[SigningKeys, Path]:
    keys = SigningKeys.generate(datetime.now(UTC))
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks(keys)))
    return keys, path


def signed_checkpoint(recorded: Recorded, keys: SigningKeys, path: Path, **changes: Any) -> Path:
    checkpoint = sign(
        "city-a/gate-2",
        recorded.head["seq"],
        recorded.head["head"],
        to_timestamp(datetime.now(UTC).timestamp()),
        keys.active.kid,
        keys.active.private_key,
    )
    path.write_text(json.dumps({**checkpoint.to_json(), **changes}))
    return path


def cut_tail(data_dir: Path, keep: int) -> None:
    manifest = data_dir / MANIFEST_NAME
    manifest.write_text("".join(line + "\n" for line in manifest.read_text().splitlines()[:keep]))


def test_the_checkpoint_matches_the_recording_it_was_taken_from(
    recorded: Recorded, tmp_path: Path, operator_keys: tuple[SigningKeys, Path]
) -> None:
    keys, jwks_path = operator_keys
    checkpoint = signed_checkpoint(recorded, keys, tmp_path / "checkpoint.json")
    verified = run_verify(recorded.held, "--checkpoint", str(checkpoint), "--keys", str(jwks_path))
    assert verified.returncode == 0, verified.stdout
    assert "matches the checkpoint of" in verified.stdout
    assert f"(line {recorded.head['seq']})" in verified.stdout


def test_a_cut_off_tail_is_named_against_the_signed_checkpoint(
    recorded: Recorded, tmp_path: Path, operator_keys: tuple[SigningKeys, Path]
) -> None:
    keys, jwks_path = operator_keys
    data_dir = copy_recording(recorded.held, tmp_path / "volume")
    cut_tail(data_dir, recorded.head["seq"] - 2)
    for line in manifest_lines(recorded.held)[recorded.head["seq"] - 2 :]:
        if line["kind"] == "segment":
            (segments_dir(data_dir) / line["name"]).unlink(missing_ok=True)  # the attacker hides the files too
    assert run_verify(data_dir).returncode == 0  # on its own, the shortened chain verifies

    checkpoint = signed_checkpoint(recorded, keys, tmp_path / "checkpoint.json")
    verified = run_verify(data_dir, "--checkpoint", str(checkpoint), "--keys", str(jwks_path))
    assert verified.returncode == 1
    assert f": tail truncated (the chain ends at line {recorded.head['seq'] - 2}; the checkpoint signed" in (
        verified.stdout
    )
    assert f"[line {recorded.head['seq'] - 1}]" in verified.stdout


def test_a_rewritten_tail_is_named_against_the_signed_checkpoint(
    recorded: Recorded, tmp_path: Path, operator_keys: tuple[SigningKeys, Path]
) -> None:
    keys, jwks_path = operator_keys
    data_dir = copy_recording(recorded.held, tmp_path / "volume")
    seq = recorded.head["seq"]
    cut_tail(data_dir, seq - 1)
    original = manifest_lines(recorded.held)[seq - 1]
    # Rebuilt: the same line written a second later, re-hashed, so the chain verifies on its own.
    fields = {key: value for key, value in original.items() if key not in ("seq", "prev", "chain")}
    fields["written"] = to_timestamp(from_timestamp(str(original["written"])) + 1)
    forge(data_dir, fields)
    assert run_verify(data_dir).returncode == 0
    checkpoint = signed_checkpoint(recorded, keys, tmp_path / "checkpoint.json")
    verified = run_verify(data_dir, "--checkpoint", str(checkpoint), "--keys", str(jwks_path))
    assert verified.returncode == 1
    assert ": tail rewritten (its hash is" in verified.stdout
    assert f"[line {seq}]" in verified.stdout


@pytest.mark.parametrize("tamper", ["seq", "signature", "key"])
def test_a_checkpoint_with_a_bad_signature_is_refused(
    recorded: Recorded, tmp_path: Path, operator_keys: tuple[SigningKeys, Path], tamper: str
) -> None:
    keys, jwks_path = operator_keys
    data_dir = copy_recording(recorded.held, tmp_path / "volume")
    cut_tail(data_dir, recorded.head["seq"] - 2)
    path = tmp_path / "checkpoint.json"
    if tamper == "seq":  # the attacker moves the checkpoint back to fit the shortened chain
        signed_checkpoint(recorded, keys, path, seq=recorded.head["seq"] - 2)
    elif tamper == "signature":
        signature = str(json.loads(signed_checkpoint(recorded, keys, path).read_text())["signature"])
        flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
        signed_checkpoint(recorded, keys, path, signature=flipped)
    else:  # signed with a key of the attacker's own
        signed_checkpoint(recorded, SigningKeys.generate(datetime.now(UTC)), path)
    verified = run_verify(data_dir, "--checkpoint", str(path), "--keys", str(jwks_path))
    assert verified.returncode == 3, verified.stdout
    assert "checkpoint refused:" in verified.stdout
