"""A grant says when what it names does not exist."""

from __future__ import annotations

from camfleet.access.grant_status import cameras_found
from camfleet.api.common import CameraSelection


def selection(**fields: object) -> CameraSelection:
    return CameraSelection.model_validate({"namespace": "traffic", **fields})


def test_a_named_camera_that_does_not_exist_is_named() -> None:
    found = cameras_found(selection(names=["plaza", "nowhere"]), existing=["plaza", "bridge"], selected=1)
    assert (found.status, found.reason) == ("False", "CameraNotFound")
    assert found.message == "no camera nowhere in namespace traffic"


def test_every_named_camera_existing_is_found() -> None:
    found = cameras_found(selection(names=["plaza"]), existing=["plaza"], selected=1)
    assert (found.status, found.reason) == ("True", "Found")


def test_a_selector_matching_nothing_says_so() -> None:
    found = cameras_found(selection(selector={"matchLabels": {"zone": "moon"}}), existing=["plaza"], selected=0)
    assert (found.status, found.reason) == ("False", "NoCameraSelected")


def test_many_missing_names_are_cut_short() -> None:
    names = [f"cam-{index:02d}" for index in range(15)]
    found = cameras_found(selection(names=names), existing=[], selected=0)
    assert found.message.endswith("and 5 more in namespace traffic")
