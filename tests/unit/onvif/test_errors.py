"""Error mapping: every failure is typed, carries the ONVIF fault code, and never the password."""

from __future__ import annotations

import zeep.exceptions
from lxml import etree

from camfleet.onvif.errors import AuthFailed, DeviceError, NotSupported, ProtocolError, redact
from camfleet.onvif.session import fault_code, translate_fault

TER = "http://www.onvif.org/ver10/error"
PASSWORD = "Tr0ub4dor&3"


def fault(code: str, *subcodes: str, message: str = "reason") -> zeep.exceptions.Fault:
    return zeep.exceptions.Fault(
        message=message, code=code, subcodes=[etree.QName(TER, subcode) for subcode in subcodes]
    )


def test_redact_replaces_every_occurrence() -> None:
    assert redact(f"user admin pw {PASSWORD} again {PASSWORD}", [PASSWORD, ""]) == "user admin pw *** again ***"


def test_fault_code_reads_like_the_onvif_spec() -> None:
    assert fault_code(fault("env:Sender", "NotAuthorized")) == "env:Sender/ter:NotAuthorized"
    assert fault_code(fault("s:Receiver", "ActionNotSupported")) == "env:Receiver/ter:ActionNotSupported"


def test_not_authorized_fault_is_auth_failed() -> None:
    error = translate_fault(fault("env:Sender", "NotAuthorized"), [PASSWORD], {"operation": "GetNTP"})
    assert isinstance(error, AuthFailed)
    assert error.fault_code == "env:Sender/ter:NotAuthorized"


def test_action_not_supported_is_a_capability_signal_not_a_plain_error() -> None:
    error = translate_fault(fault("env:Receiver", "ActionNotSupported"), [PASSWORD], {})
    assert isinstance(error, NotSupported)
    assert isinstance(error, ProtocolError)


def test_other_faults_are_protocol_errors_with_their_code() -> None:
    error = translate_fault(fault("env:Sender", "InvalidArgVal", "ConfigModify"), [PASSWORD], {})
    assert type(error) is ProtocolError
    assert error.fault_code == "env:Sender/ter:InvalidArgVal/ter:ConfigModify"


def test_a_device_echoing_the_password_in_its_fault_reason_is_redacted() -> None:
    echoed = fault("env:Sender", "InvalidArgVal", message=f"bad password {PASSWORD} for admin")
    error = translate_fault(echoed, [PASSWORD], {"address": "http://cam/onvif"})
    assert PASSWORD not in str(error)
    assert PASSWORD not in repr(error)
    assert "***" in str(error)


def test_error_text_names_operation_and_address() -> None:
    error = DeviceError("no reply", address="http://cam/onvif/device_service", operation="GetNTP")
    assert str(error) == "no reply (GetNTP http://cam/onvif/device_service)"
