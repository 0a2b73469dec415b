"""The generic status writer: typed model in, a merge patch only of what changed, nested objects replaced."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from camfleet.api.camera import CameraStatus, LastError, OnvifFault
from camfleet.kube.status import status_body, status_fields, status_patch, write_status

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def test_equal_status_is_no_patch() -> None:
    assert status_patch({"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 2}}) is None


def test_vanished_keys_inside_nested_objects_are_sent_as_null() -> None:
    current = {"lastError": {"message": "x", "onvifFault": {"code": "env:Sender", "subcode": "ter:Busy"}}, "n": 1}
    desired = {"lastError": {"message": "y", "onvifFault": {"code": "env:Receiver"}}, "n": 1}
    assert status_patch(current, desired) == {
        "lastError": {"message": "y", "onvifFault": {"code": "env:Receiver", "subcode": None}}
    }


def test_only_owned_keys_are_removed() -> None:
    current = {"kopf": {"progress": {}}, "lastError": {"message": "x"}, "observedGeneration": 1}
    assert status_patch(current, {"observedGeneration": 1}, owned={"lastError", "observedGeneration"}) == {
        "lastError": None
    }


def test_the_model_owns_its_declared_fields() -> None:
    assert {"lastError", "streamUris", "conditions", "observedGeneration"} <= status_fields(CameraStatus)
    assert "lastContactTime" not in status_fields(CameraStatus)


class FakeClient:
    def __init__(self) -> None:
        self.patches: list[dict[str, Any]] = []

    async def patch(self, resource: Any, name: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.patches.append(body)
        return {"metadata": {"name": name}, "status": body["status"]}


class Resource:
    Status = object()


async def test_write_status_sends_one_patch_only_when_something_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeClient()
    error = LastError(message="refused", time=NOW, onvif_fault=OnvifFault(code="env:Sender", subcode="ter:X"))
    desired = CameraStatus(observed_generation=2, last_error=error)
    body = {"metadata": {"name": "cam", "namespace": "ns"}, "status": {"kopf": {"x": 1}, "authMode": "HTTPDigest"}}
    stored = await write_status(client, Resource, body, desired)  # type: ignore[arg-type]
    assert client.patches == [
        {
            "status": {
                "observedGeneration": 2,
                "conditions": [],
                "streamUris": [],
                "lastError": {
                    "message": "refused",
                    "time": "2030-01-01T00:00:00Z",
                    "onvifFault": {"code": "env:Sender", "subcode": "ter:X"},
                },
                "authMode": None,
            }
        }
    ]
    assert stored is not None
    again = {"metadata": body["metadata"], "status": {"kopf": {"x": 1}, **status_body(desired)}}
    assert await write_status(client, Resource, again, desired) is None  # type: ignore[arg-type]
    assert len(client.patches) == 1
