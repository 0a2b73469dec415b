"""The note-grant-change webhook declares NoneOnDryRun: its one side effect, the audit record, is skipped on a dry
run, while the attribution (a patch of the admitted object) is answered either way."""

from __future__ import annotations

import copy
from typing import Any
from unittest import mock

import kopf
import pytest

from camfleet.access.identity import CHANGED_BY_ANNOTATION
from camfleet.handlers.access import note_grant_change

GRANT: dict[str, Any] = {
    "apiVersion": "camfleet.io/v1alpha1",
    "kind": "SharingGrant",
    "metadata": {"name": "junction-study", "namespace": "traffic"},
    "spec": {
        "cameras": {"namespace": "police", "names": ["junction"]},
        "shareClass": "Conditional",
        "permissions": ["LiveView"],
        "period": {"start": "2026-12-01T00:00:00+00:00", "end": "2026-12-08T00:00:00+00:00"},
        "purpose": "Count turning vehicles for a signal timing study",
        "application": {
            "applicantDepartment": "Traffic Planning Division",
            "contact": "Wang Lei, +86 532 8000 1234",
            "reason": "Turning flows exceed the capacity of the left-turn lane",
            "dataType": "Live video",
            "dataContent": "The junction, weekdays 07:00-09:00, one week",
            "scopeOfUse": "Traffic Planning Division staff only",
            "securityMeasures": "Viewed on bureau workstations only",
        },
    },
}


def _changed() -> dict[str, Any]:
    new = copy.deepcopy(GRANT)
    new["spec"]["permissions"] = ["LiveView", "Playback"]
    return new


@pytest.mark.parametrize("dryrun", [False, True])
def test_a_change_is_attributed_and_audited_only_when_not_a_dry_run(dryrun: bool) -> None:
    patch = kopf.Patch()
    userinfo = kopf.UserInfo(username="carol@city.example", groups=["traffic"])
    with mock.patch("camfleet.handlers.access.audit") as audit:
        note_grant_change(patch=patch, userinfo=userinfo, dryrun=dryrun, old=GRANT, new=_changed())
    assert "carol@city.example" in patch["metadata"]["annotations"][CHANGED_BY_ANNOTATION]
    assert audit.call_count == (0 if dryrun else 1)
