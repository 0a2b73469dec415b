from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from camfleet.kube.store import ApprovalStore, CameraStore


def _camera(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": namespace, "name": name, "managedFields": [{"x": 1}]}, "spec": spec}


def _approval(name: str, kind: str, target: str, namespace: str = "owner") -> dict[str, Any]:
    return {"metadata": {"namespace": namespace, "name": name}, "spec": {"target": {"kind": kind, "name": target}}}


def test_camera_store_indexes_by_namespace_drops_managed_fields_and_hands_out_copies() -> None:
    store = CameraStore()
    store.put(_camera("police", "gate", shareClass="Conditional"))
    store.put(_camera("police", "lobby"))
    store.put(_camera("water", "dam"))
    assert store.count_in("police") == 2
    assert sorted(store.keys_in("police")) == [("police", "gate"), ("police", "lobby")]
    body = store.get(("police", "gate"))
    assert body is not None
    assert "managedFields" not in body["metadata"]
    body["spec"]["shareClass"] = "NotShared"
    assert store.get(("police", "gate"))["spec"]["shareClass"] == "Conditional"  # type: ignore[index]
    store.remove(("police", "gate"))
    assert store.count_in("police") == 1
    assert not store.knows(("police", "gate"))


def test_camera_store_listeners_hear_changes_and_removals() -> None:
    store = CameraStore()
    heard: list[tuple[tuple[str, str], Mapping[str, Any] | None]] = []
    store.subscribe(lambda key, body: heard.append((key, body)))
    store.put(_camera("police", "gate"))
    store.notify(("police", "gate"))
    store.refresh(_camera("police", "gate", note="written by us"))  # our own write is no news
    store.remove(("police", "gate"))
    assert [(key, body is None) for key, body in heard] == [(("police", "gate"), False), (("police", "gate"), True)]


def test_approval_store_finds_approvals_by_target_and_follows_a_retarget() -> None:
    store = ApprovalStore()
    store.put(_approval("a1", "SharingGrant", "g1"))
    store.put(_approval("a2", "SharingGrant", "g1"))
    store.put(_approval("e1", "FootageExport", "g1"))
    assert [b["metadata"]["name"] for b in store.approvals_for("SharingGrant", "owner", "g1")] == ["a1", "a2"]
    assert [b["metadata"]["name"] for b in store.approvals_for("FootageExport", "owner", "g1")] == ["e1"]
    store.put(_approval("a2", "SharingGrant", "g2"))
    assert [b["metadata"]["name"] for b in store.approvals_for("SharingGrant", "owner", "g1")] == ["a1"]
    store.remove(("owner", "a1"))
    assert store.approvals_for("SharingGrant", "owner", "g1") == []
