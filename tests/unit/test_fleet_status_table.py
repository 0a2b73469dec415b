"""`camfleet status`: the per-department summary, from object bodies as the API server returns them."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from camfleet.devcluster.example_fleet import load_manifests
from camfleet.fleet_status_table import FleetSummary, render_json, render_table, summarize

NOW = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.UTC)
EXAMPLES = load_manifests(Path(__file__).resolve().parents[2] / "examples")


def example(kind: str, name: str) -> dict[str, Any]:
    found = next(m for m in EXAMPLES if m["kind"] == kind and m["metadata"]["name"] == name)
    return copy.deepcopy(found)


def conditions(**found: tuple[str, str]) -> dict[str, Any]:
    return {
        "observedGeneration": 1,
        "conditions": [{"type": kind, "status": status, "reason": reason} for kind, (status, reason) in found.items()],
    }


def camera(namespace: str, name: str, **found: tuple[str, str]) -> dict[str, Any]:
    body = example("Camera", "zhongshan-hubei-junction")
    body["metadata"] = {"namespace": namespace, "name": name, "generation": 1}
    if found:
        body["status"] = conditions(**found)
    return body


HEALTHY = {
    "Reachable": ("True", "Reachable"),
    "Recording": ("True", "Recording"),
    "Filed": ("True", "Filed"),
    "Signage": ("True", "SignageConfirmed"),
    "Ready": ("True", "Ready"),
}


def grant(name: str, start: dt.datetime, end: dt.datetime, **found: tuple[str, str]) -> dict[str, Any]:
    """The example conditional grant of transport on public-security's cameras, with another period and status."""
    body = example("SharingGrant", "pedestrian-street-playback")
    body["metadata"]["name"] = name
    body["spec"]["period"] = {"start": start.isoformat(), "end": end.isoformat()}
    body["status"] = conditions(**found)
    return body


def summary_of(*bodies: dict[str, Any]) -> FleetSummary:
    by_kind: dict[str, list[dict[str, Any]]] = {"Camera": [], "RecordingPolicy": [], "SharingGrant": []}
    for body in bodies:
        by_kind[body["kind"]].append(body)
    return summarize(by_kind["Camera"], by_kind["RecordingPolicy"], by_kind["SharingGrant"], NOW)


def row(summary: FleetSummary, department: str) -> dict[str, Any]:
    return next(r.to_json() for r in summary.departments if r.department == department)


def test_cameras_are_counted_per_department_from_their_conditions() -> None:
    summary = summary_of(
        camera("transport", "a", **HEALTHY),
        camera("transport", "b", **{**HEALTHY, "Reachable": ("False", "Unreachable"), "Ready": ("False", "x")}),
        camera(
            "transport",
            "c",
            **{**HEALTHY, "Filed": ("False", "FilingOverdue"), "Signage": ("False", "SignageUnconfirmed")},
        ),
        camera("transport", "d", **{**HEALTHY, "Recording": ("False", "NoRecordingPolicy")}),
        camera("water-authority", "gauge", **HEALTHY),
    )
    transport = row(summary, "transport")
    assert {key: transport[key] for key in ("cameras", "online", "onlineRate", "ready", "recording")} == {
        "cameras": 4,
        "online": 3,
        "onlineRate": 0.75,
        "ready": 3,
        "recording": 3,
    }
    assert (transport["filingsOverdue"], transport["signageUnconfirmed"]) == (1, 1)
    assert transport["objects"]["offline"] == ["transport/b"]
    assert transport["objects"]["filingsOverdue"] == ["transport/c"]
    assert row(summary, "water-authority")["onlineRate"] == 1.0
    assert (summary.total.cameras, summary.total.online) == (5, 4)


def test_a_filing_merely_pending_is_not_overdue() -> None:
    summary = summary_of(camera("transport", "new", **{**HEALTHY, "Filed": ("Unknown", "FilingPending")}))
    assert row(summary, "transport")["filingsOverdue"] == 0


def test_a_camera_the_operator_has_not_reported_on_is_neither_online_nor_ready() -> None:
    transport = row(summary_of(camera("transport", "fresh")), "transport")
    assert (transport["cameras"], transport["online"], transport["ready"]) == (1, 0, 0)
    assert transport["objects"]["offline"] == ["transport/fresh"]


def test_policies_ready_out_of_total() -> None:
    ready = example("RecordingPolicy", "traffic-30-days")
    ready["status"] = conditions(Ready=("True", "Ready"))
    waiting = example("RecordingPolicy", "traffic-30-days")
    waiting["metadata"]["name"] = "no-status-yet"
    transport = row(summary_of(ready, waiting), "transport")
    assert (transport["policies"], transport["policiesReady"]) == (2, 1)


def test_pending_approvals_count_for_the_camera_owner_who_must_answer() -> None:
    later = NOW + dt.timedelta(days=30)
    summary = summary_of(
        grant("waiting", NOW, later, Approved=("Unknown", "Pending"), Active=("False", "AwaitingApproval")),
        grant("late", NOW, later, Approved=("Unknown", "ApprovalOverdue"), Active=("False", "AwaitingApproval")),
        grant("answered", NOW, later, Approved=("True", "Approved"), Active=("True", "Active")),
    )
    owner = row(summary, "public-security")
    assert owner["objects"]["approvalsPending"] == ["transport/late", "transport/waiting"]
    assert owner["objects"]["approvalsOverdue"] == ["transport/late"]
    assert row(summary, "transport")["approvalsPending"] == 0
    assert owner["onlineRate"] is None, "a department without cameras has no online rate"


@pytest.mark.parametrize(
    ("ends_in", "active", "expiring"),
    [
        (dt.timedelta(hours=23), "True", True),
        (dt.timedelta(hours=24), "True", True),
        (dt.timedelta(hours=25), "True", False),
        # Past its end and still Active: revocation is late, which is all the more reason to list it.
        (dt.timedelta(minutes=-1), "True", True),
        (dt.timedelta(hours=1), "False", False),
    ],
)
def test_active_grants_ending_within_24_hours_count_for_the_grantee(
    ends_in: dt.timedelta, active: str, expiring: bool
) -> None:
    summary = summary_of(
        grant("g", NOW - dt.timedelta(days=2), NOW + ends_in, Approved=("True", "Approved"), Active=(active, "x"))
    )
    assert row(summary, "transport")["objects"]["grantsExpiring"] == (["transport/g"] if expiring else [])


def test_an_emergency_grant_expires_at_its_period_end() -> None:
    typhoon = example("SharingGrant", "typhoon-evacuation-city-hall")
    typhoon["spec"]["period"] = {
        "start": (NOW - dt.timedelta(hours=60)).isoformat(),
        "end": (NOW + dt.timedelta(hours=10)).isoformat(),
    }
    typhoon["status"] = conditions(Approved=("True", "Approved"), Active=("True", "Active"))
    assert row(summary_of(typhoon), "transport")["grantsExpiring"] == 1


def test_the_table_has_a_row_per_department_and_a_total() -> None:
    summary = summary_of(
        camera("transport", "a", **HEALTHY),
        camera("transport", "b", **{**HEALTHY, "Reachable": ("False", "Unreachable")}),
        grant("late", NOW, NOW + dt.timedelta(days=9), Approved=("Unknown", "ApprovalOverdue")),
    )
    lines = render_table(summary).splitlines()
    assert lines[0].split() == [
        "DEPARTMENT",
        "CAMERAS",
        "ONLINE",
        "RATE",
        "READY",
        "RECORDING",
        "FILING-OVERDUE",
        "NO-SIGNAGE",
        "POLICIES-READY",
        "APPROVALS-PENDING",
        "OVERDUE",
        "EXPIRING-24H",
        "PTZ-HELD",
    ]
    assert [line.split()[0] for line in lines[1:]] == ["public-security", "transport", "TOTAL"]
    assert lines[1].split() == ["public-security", "0", "0", "-", "0", "0", "0", "0", "0/0", "1", "1", "0", "0"]
    assert lines[2].split() == ["transport", "2", "1", "50%", "2", "2", "0", "0", "0/0", "0", "0", "0", "0"]
    # Columns line up: every value starts where its header does.
    starts = [lines[0].index(header) for header in ("CAMERAS", "RATE", "EXPIRING-24H")]
    assert [lines[2][start - 1] for start in starts] == [" ", " ", " "]


def test_json_output() -> None:
    document = json.loads(render_json(summary_of(camera("transport", "a", **HEALTHY))))
    assert document["generatedAt"] == "2030-06-01T12:00:00Z"
    assert document["expiringWithinHours"] == 24
    assert [d["department"] for d in document["departments"]] == ["transport"]
    assert document["total"]["cameras"] == 1
    assert document["total"]["onlineRate"] == 1.0


def test_an_empty_fleet() -> None:
    summary = summary_of()
    assert summary.departments == []
    assert render_table(summary).splitlines()[-1].split()[:4] == ["TOTAL", "0", "0", "-"]


def test_cameras_held_through_ptz_control_are_counted_with_their_holder() -> None:
    held = camera("transport", "a", **HEALTHY)
    holder = {"department": "water", "rank": "Level2", "since": "2030-06-01T11:59:00Z"}
    held["status"]["ptzControl"] = holder
    summary = summary_of(held, camera("transport", "b", **HEALTHY))
    transport = row(summary, "transport")
    assert transport["ptzHeld"] == 1
    assert transport["objects"]["ptzHeld"] == ["transport/a"]
    assert transport["ptzControl"] == {"transport/a": holder}
    assert render_table(summary).splitlines()[1].split()[-1] == "1"
