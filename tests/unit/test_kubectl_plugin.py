"""`kubectl camfleet` as a user meets it: what approve/deny and export create send, errors that name the flag to
fix with exit code 2, and which tool `verify` and `export` run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from camfleet import cli
from camfleet.kubectl_plugin import (
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    Target,
    UsageProblem,
    approval_manifest,
    export_outcome,
    export_ranges,
    parse_target,
)


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("grant/crossings", Target("SharingGrant", "crossings")),
        ("crossings", Target("SharingGrant", "crossings")),
        ("sharinggrant/crossings", Target("SharingGrant", "crossings")),
        ("export/case-42", Target("FootageExport", "case-42")),
        ("FootageExport/case-42", Target("FootageExport", "case-42")),
    ],
)
def test_targets_are_named_like_kubectl_names_them(text: str, target: Target) -> None:
    assert parse_target(text) == target


@pytest.mark.parametrize(
    ("text", "says"), [("camera/plaza", "grant/NAME or export/NAME"), ("grant/", "after the slash")]
)
def test_a_wrong_target_says_what_to_give(text: str, says: str) -> None:
    with pytest.raises(UsageProblem, match=says):
        parse_target(text)


def test_an_approval_names_no_approver_the_webhook_stamps_the_sender() -> None:
    manifest = approval_manifest(
        Target("SharingGrant", "crossings"), "transport", "public-security", "Deny", "faces not needed", "QD-1"
    )
    assert manifest["metadata"] == {"generateName": "crossings-deny-", "namespace": "public-security"}
    assert manifest["spec"] == {
        "target": {"kind": "SharingGrant", "name": "crossings", "namespace": "transport"},
        "verdict": "Deny",
        "reason": "faces not needed",
        "documentReference": "QD-1",
    }
    assert "annotations" not in manifest["metadata"]
    export = approval_manifest(Target("FootageExport", "case-42"), "public-security", "public-security", "Approve")
    assert export["spec"]["target"] == {"kind": "FootageExport", "name": "case-42"}  # same namespace: none given


def test_export_ranges_from_flags() -> None:
    ranges = export_ranges(
        "2030-04-18T19:30:00+08:00", "2030-04-18T20:00:00+08:00", ["2030-04-19T08:00:00Z/2030-04-19T09:00:00Z"]
    )
    assert ranges == [
        {"start": "2030-04-18T19:30:00+08:00", "end": "2030-04-18T20:00:00+08:00"},
        {"start": "2030-04-19T08:00:00+00:00", "end": "2030-04-19T09:00:00+00:00"},
    ]


@pytest.mark.parametrize(
    ("start", "end", "ranges", "says"),
    [
        (None, None, [], "give the time range"),
        ("2030-04-18T19:30:00+08:00", None, [], "--from and --to go together"),
        ("2030-04-18T19:30:00", "2030-04-18T20:00:00", [], "needs its time zone"),
        ("yesterday", "2030-04-18T20:00:00Z", [], "RFC 3339"),
        ("2030-04-18T21:00:00Z", "2030-04-18T20:00:00Z", [], "ends before it starts"),
        (None, None, ["2030-04-18T21:00:00Z"], "START/END"),
    ],
)
def test_export_range_mistakes_are_named(start: str | None, end: str | None, ranges: list[str], says: str) -> None:
    with pytest.raises(UsageProblem, match=says):
        export_ranges(start, end, ranges)


def test_a_finished_export_says_where_the_copy_is() -> None:
    done = {
        "metadata": {"name": "case-42"},
        "status": {
            "conditions": [{"type": "Approved", "status": "True"}, {"type": "Completed", "status": "True"}],
            "persistentVolumeClaim": "case-42-export",
            "manifestSha256": "ab" * 32,
            "files": [{"path": "manifest.json"}, {"path": "a.ts"}],
        },
    }
    code, message = export_outcome(done)
    assert code == EXIT_OK
    assert "2 file(s) on PersistentVolumeClaim case-42-export" in message
    assert "ab" * 32 in message
    refusal = {"type": "Approved", "status": "False", "message": "denied by bob: too broad"}
    denied = {"metadata": {"name": "x"}, "status": {"conditions": [refusal]}}
    assert export_outcome(denied) == (EXIT_REFUSED, "footageexport/x was denied: denied by bob: too broad")
    waiting = {"type": "Approved", "status": "Unknown", "message": "needs 2 more approval(s)"}
    pending = {"metadata": {"name": "x"}, "status": {"conditions": [waiting]}}
    assert export_outcome(pending) == (None, "needs 2 more approval(s)")


def test_deny_without_a_reason_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["deny", "grant/crossings", "-n", "transport"])
    assert exited.value.code == EXIT_USAGE
    assert "--reason" in capsys.readouterr().err


def test_a_plugin_usage_problem_exits_2_naming_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["export", "create", "case-42", "--camera", "plaza", "--purpose", "evidence",
                     "--case-reference", "JT-1", "--from", "2030-04-18T19:30:00+08:00"])  # fmt: skip
    assert code == EXIT_USAGE
    assert "--from and --to go together" in capsys.readouterr().err


def test_export_without_create_is_still_the_export_jobs_tool(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["export", "--termination-log", "/nonexistent/termination-log"])
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (code, line["ok"], line["exitCode"]) == (2, False, 2)
    assert "missing --source" in line["error"]


def test_verify_export_checks_an_export_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["verify", "export", str(tmp_path)])
    assert code != 0
    assert "export does not verify: SHA256SUMS: missing" in capsys.readouterr().out
