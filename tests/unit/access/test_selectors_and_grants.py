"""Which cameras a grant covers (label selectors, names), when it is in force, and what it gives."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from camfleet.access import effective_cameras, grant_covers, grant_in_force, hard_expiry, selector_matches
from camfleet.api.camera import ShareClass
from camfleet.api.common import LabelSelector, Period
from camfleet.api.sharing_grant import Permission
from tests.unit.access.builders import NOW, OWNER, camera, grant, grant_spec

LABELS = {"zone": "downtown", "tier": "gold"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ({}, True),
        ({"matchLabels": {"zone": "downtown"}}, True),
        ({"matchLabels": {"zone": "downtown", "tier": "gold"}}, True),
        ({"matchLabels": {"zone": "harbour"}}, False),
        ({"matchLabels": {"missing": "x"}}, False),
        ({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["downtown", "harbour"]}]}, True),
        ({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["harbour"]}]}, False),
        ({"matchExpressions": [{"key": "missing", "operator": "In", "values": ["x"]}]}, False),
        ({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["harbour"]}]}, True),
        ({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["downtown"]}]}, False),
        # As in Kubernetes, an object without the label is "not in" any set.
        ({"matchExpressions": [{"key": "missing", "operator": "NotIn", "values": ["x"]}]}, True),
        ({"matchExpressions": [{"key": "zone", "operator": "Exists"}]}, True),
        ({"matchExpressions": [{"key": "missing", "operator": "Exists"}]}, False),
        ({"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}, False),
        ({"matchExpressions": [{"key": "missing", "operator": "DoesNotExist"}]}, True),
        # all conditions must hold
        (
            {
                "matchLabels": {"zone": "downtown"},
                "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["gold"]}],
            },
            False,
        ),
    ],
)
def test_label_selectors(selector: dict[str, Any], matches: bool) -> None:
    assert selector_matches(LabelSelector.model_validate(selector), LABELS) is matches


@pytest.mark.parametrize(
    ("selection", "covered"),
    [
        ({"namespace": OWNER, "names": ["cam"]}, True),
        ({"namespace": OWNER, "names": ["other"]}, False),
        ({"namespace": "water-authority", "names": ["cam"]}, False),
        ({"namespace": OWNER, "selector": {}}, True),
        ({"namespace": "water-authority", "selector": {}}, False),
        ({"namespace": OWNER, "selector": {"matchLabels": {"zone": "downtown"}}}, True),
        ({"namespace": OWNER, "selector": {"matchLabels": {"zone": "harbour"}}}, False),
    ],
)
def test_a_grant_covers_cameras_of_one_namespace_by_name_or_selector(selection: dict[str, Any], covered: bool) -> None:
    assert grant_covers(grant_spec(cameras=selection), camera(labels=LABELS)) is covered


def test_a_grant_is_in_force_from_its_start_until_before_its_end() -> None:
    g = grant(start=NOW, end=NOW + timedelta(days=1))
    assert not grant_in_force(g, NOW - timedelta(microseconds=1))
    assert grant_in_force(g, NOW)
    assert grant_in_force(g, NOW + timedelta(days=1) - timedelta(microseconds=1))
    assert not grant_in_force(g, NOW + timedelta(days=1))


def test_only_an_approved_unrevoked_grant_is_in_force() -> None:
    assert not grant_in_force(grant(approved=False), NOW)
    assert not grant_in_force(grant(revoked=True), NOW)


def test_emergency_access_ends_at_most_72_hours_after_its_start() -> None:
    spec = grant_spec(emergency=True, share_class="NotShared", start=NOW, end=NOW + timedelta(hours=72))
    assert hard_expiry(spec) == NOW + timedelta(hours=72)
    # The API refuses a longer emergency; a stored object that slipped past it is capped all the same.
    stretched = spec.model_copy(update={"period": Period.model_construct(start=NOW, end=NOW + timedelta(days=30))})
    assert hard_expiry(stretched) == NOW + timedelta(hours=72)
    assert hard_expiry(grant_spec(start=NOW, end=NOW + timedelta(days=30))) == NOW + timedelta(days=30)


def test_effective_cameras_apply_share_class_and_restricted_zones() -> None:
    cameras = [
        camera("a-open", share_class=ShareClass.UNCONDITIONAL),
        camera("b-conditional"),
        camera("c-not-shared", share_class=ShareClass.NOT_SHARED),
        camera("d-restricted", restricted=True),
        camera("e-elsewhere", namespace="water-authority"),
    ]
    normal = grant_spec(permissions=("Playback", "LiveView"))
    assert [(c.name, c.permissions) for c in effective_cameras(normal, cameras)] == [
        ("a-open", [Permission.PLAYBACK, Permission.LIVE_VIEW]),
        ("b-conditional", [Permission.PLAYBACK, Permission.LIVE_VIEW]),
    ]
    emergency = grant_spec(
        permissions=("LiveView",), share_class="NotShared", emergency=True, end=NOW + timedelta(hours=1)
    )
    assert [c.name for c in effective_cameras(emergency, cameras)] == [
        "a-open",
        "b-conditional",
        "c-not-shared",
        "d-restricted",
    ]
