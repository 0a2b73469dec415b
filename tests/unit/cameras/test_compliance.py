from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from camfleet.api.camera import CameraSpec
from camfleet.cameras.compliance import filed_condition, signage_condition

BASE: dict[str, Any] = {
    "endpoint": "http://127.0.0.1:1/onvif/device_service",
    "credentialsSecretRef": {"name": "a"},
    "site": "Site",
    "location": {"category": "street", "description": "corner"},
    "purpose": "traffic",
    "legalBasis": "city classification decision CLS-2030-01",
}


def spec(**changes: Any) -> CameraSpec:
    return CameraSpec.model_validate({**BASE, **changes})


def test_filing_is_pending_for_30_days_then_overdue() -> None:
    accepted = spec(acceptanceDate="2026-03-01")
    assert filed_condition(accepted, dt.date(2026, 3, 31)).reason == "FilingPending"
    overdue = filed_condition(accepted, dt.date(2026, 4, 1))
    assert (overdue.status, overdue.reason) == ("False", "FilingOverdue")
    assert "2026-03-31" in overdue.message


def test_a_filing_reference_files_the_camera() -> None:
    filed = filed_condition(spec(acceptanceDate="2020-01-01", filingReference="QD-7"), dt.date(2026, 1, 1))
    assert (filed.status, filed.reason) == ("True", "Filed")


def test_without_acceptance_nothing_is_due() -> None:
    assert filed_condition(spec(), dt.date(2026, 1, 1)).reason == "NotAccepted"


@given(st.dates(dt.date(2000, 1, 1), dt.date(2090, 1, 1)), st.integers(0, 400))
def test_overdue_exactly_after_the_thirtieth_day(accepted: dt.date, days_later: int) -> None:
    condition = filed_condition(spec(acceptanceDate=accepted.isoformat()), accepted + dt.timedelta(days=days_later))
    assert (condition.reason == "FilingOverdue") == (days_later > 30)


def test_unconfirmed_signage_warns() -> None:
    assert signage_condition(spec()).status == "False"
    assert signage_condition(spec(signage={"confirmed": True})).status == "True"
