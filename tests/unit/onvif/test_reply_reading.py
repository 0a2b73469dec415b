"""Defensive reply reading, fault classification, device memory and the reasons they lead to (issue 16)."""

from __future__ import annotations

import pytest
from lxml import etree

from camfleet.api.camera import CameraCondition
from camfleet.api.conditions import Condition
from camfleet.cameras.device_pass import DeviceMemory, internal_failure
from camfleet.cameras.observation import DeviceFailure, DeviceObservation, FailureKind
from camfleet.cameras.status import authenticated_condition, configured_condition, reachable_condition
from camfleet.condition_merge import DesiredCondition, reason_changes
from camfleet.onvif import NotSupported
from camfleet.onvif.errors import UnexpectedReply
from camfleet.onvif.replies import Reader, child, children
from camfleet.onvif.session import _UNKNOWN_OPERATION


def test_child_finds_raw_elements_by_local_name_in_any_namespace() -> None:
    raw = etree.fromstring('<x:Time xmlns:x="urn:any"><x:Hour>3</x:Hour></x:Time>')

    class Zeep:
        Time = None
        _raw_elements = [raw]

    time = child(Zeep(), "Time")
    assert Reader("Op").integer(time, "Hour") == 3
    assert child(None, "Time") is None
    assert children(raw, "Hour")[0].text == "3"


def test_reader_names_operation_and_element() -> None:
    with pytest.raises(UnexpectedReply) as raised:
        Reader("GetNTP").integer(etree.fromstring("<a><b>x</b></a>"), "b")
    assert (raised.value.operation, raised.value.element) == ("GetNTP", "b")
    assert Reader("GetNTP").flag(None, "FromDHCP") is None


@pytest.mark.parametrize(
    ("reason", "unsupported"),
    [
        ("Unknown operation GetNTP", True),
        ("Method not implemented", True),
        ("optional action not supported", True),
        ("Internal server error", False),
    ],
)
def test_unknown_operation_wording(reason: str, unsupported: bool) -> None:
    assert bool(_UNKNOWN_OPERATION.search(reason)) is unsupported


def test_device_memory_forgets_after_interval_and_on_new_firmware() -> None:
    now = [0.0]
    memory = DeviceMemory(reprobe_seconds=10, clock=lambda: now[0])
    gap = NotSupported("no", operation="GetNTP")
    memory.learn("e", "1.0", {("device", "GetNTP"): gap})
    assert memory.known_unsupported("e") == {("device", "GetNTP"): gap}
    assert not memory.firmware_changed("e", "1.0")
    assert memory.firmware_changed("e", "1.1")
    memory.learn("e", "1.1", {})
    assert memory.known_unsupported("e") == {}
    memory.learn("e", "1.1", {("device", "GetNTP"): gap})
    now[0] = 11
    assert memory.known_unsupported("e") == {}


def test_internal_error_is_logged_once_per_transition() -> None:
    memory = DeviceMemory()
    assert memory.failure_is_new("e", "KeyError@configure")
    assert not memory.failure_is_new("e", "KeyError@configure")
    assert not memory.failure_is_new("e", None)
    assert memory.failure_is_new("e", "KeyError@configure")


def test_internal_failure_names_the_type_and_never_the_text() -> None:
    failure = internal_failure(KeyError("s3cret"), "configure")
    assert failure.kind is FailureKind.INTERNAL
    assert "KeyError" in failure.message
    assert "s3cret" not in failure.message


def test_reasons_name_internal_and_protocol_errors() -> None:
    internal = DeviceFailure(FailureKind.INTERNAL, "internal error (KeyError)")
    assert reachable_condition(DeviceObservation(failure=internal), None).reason == "InternalError"
    signed_in = DeviceObservation(reached=True, authenticated=True, failure=internal)
    assert configured_condition(signed_in).reason == "InternalError"
    assert authenticated_condition(DeviceObservation(reached=True, failure=internal), None).reason == "InternalError"
    garbage = DeviceFailure(FailureKind.PROTOCOL, "reply is not well-formed XML")
    assert reachable_condition(DeviceObservation(failure=garbage), None).reason == "ProtocolError"


def test_a_change_between_two_false_reasons_is_announced() -> None:
    def stored(status: str, reason: str) -> list[Condition]:
        return [
            Condition.model_validate(
                {"type": "Configured", "status": status, "reason": reason, "lastTransitionTime": "2026-01-01T00:00:00Z"}
            )
        ]

    now = [DesiredCondition(CameraCondition.CONFIGURED, "False", "SettingsNotApplied", "m")]
    assert reason_changes(stored("False", "DeviceError"), now) == now
    assert reason_changes(stored("False", "SettingsNotApplied"), now) == []
    assert reason_changes(stored("True", "Configured"), now) == []
