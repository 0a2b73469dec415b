"""The incident ledger (R12) as pure data: a deleted grant's hours stay spent; other incidents are untouched; an
incident's long-ended periods are dropped when it is next written; a damaged record costs nothing but itself."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from camfleet.access.authorities import incident_budget_refusal
from camfleet.access.incident_ledger import KEEP_AFTER_END, ledger_key, recorded_periods, with_grant
from camfleet.api.common import Period

T0 = datetime(2030, 8, 10, 6, tzinfo=UTC)


def period(start_hours: float, hours: float) -> Period:
    start = T0 + timedelta(hours=start_hours)
    return Period(start=start, end=start + timedelta(hours=hours))


def test_a_deleted_grants_hours_stay_spent() -> None:
    ledger = with_grant({}, "EMC-1", "uid-a", "police/first", period(0, 48), T0)
    # The grant is deleted: no live period is left, but the ledger still holds its 48 hours.
    assert recorded_periods(ledger, "EMC-1") == [period(0, 48)]
    refusal = incident_budget_refusal("EMC-1", period(47, 48), recorded_periods(ledger, "EMC-1"))
    assert refusal is not None
    assert "would reach 95.0 hours" in refusal
    assert incident_budget_refusal("EMC-1", period(10, 20), recorded_periods(ledger, "EMC-1")) is None


def test_incidents_are_kept_apart_and_a_uid_is_recorded_once() -> None:
    ledger = with_grant({}, "EMC-1", "uid-a", "police/first", period(0, 48), T0)
    ledger = with_grant(ledger, "EMC-2", "uid-b", "water/levee", period(0, 72), T0)
    ledger = with_grant(ledger, "EMC-1", "uid-a", "police/first", period(0, 48), T0)
    assert recorded_periods(ledger, "EMC-1") == [period(0, 48)]
    assert recorded_periods(ledger, "EMC-2") == [period(0, 72)]
    assert recorded_periods(ledger, "EMC-3") == []
    assert ledger_key("EMC-1") != ledger_key("EMC-2")
    assert all(set(key) <= set("incident-0123456789abcdef") for key in ledger), "ConfigMap keys allow few characters"
    assert json.loads(ledger[ledger_key("EMC-1")])["grants"]["uid-a"]["grant"] == "police/first"


def test_long_ended_periods_go_when_the_incident_is_next_written() -> None:
    ledger = with_grant({}, "EMC-1", "uid-a", "police/first", period(0, 48), T0)
    later = T0 + timedelta(hours=48) + KEEP_AFTER_END + timedelta(seconds=1)
    ledger = with_grant(ledger, "EMC-1", "uid-b", "police/again", period(0, 1), later)
    assert recorded_periods(ledger, "EMC-1") == [period(0, 1)]
    recent = with_grant(ledger, "EMC-1", "uid-c", "police/third", period(5, 1), T0 + timedelta(days=1))
    assert len(recorded_periods(recent, "EMC-1")) == 2, "a period ended only days ago still counts"


def test_a_damaged_or_foreign_record_counts_as_none_and_is_rewritten() -> None:
    damaged = {ledger_key("EMC-1"): "not json"}
    assert recorded_periods(damaged, "EMC-1") == []
    # A record under the key that names another incident (a hash collision, or a hand edit) is not this one's.
    foreign = {ledger_key("EMC-1"): json.dumps({"incident": "EMC-9", "grants": {"x": {"start": "a", "end": "b"}}})}
    assert recorded_periods(foreign, "EMC-1") == []
    half = {ledger_key("EMC-1"): json.dumps({"incident": "EMC-1", "grants": {"x": {"start": "yesterday"}}})}
    assert recorded_periods(half, "EMC-1") == []
    assert recorded_periods(with_grant(half, "EMC-1", "uid-a", "p/g", period(0, 2), T0), "EMC-1") == [period(0, 2)]
