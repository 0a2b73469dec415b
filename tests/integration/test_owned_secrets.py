"""The Secrets camfleet writes itself (a recorder group's members Secret, a camera's publisher Secret) are written
only when what the API server holds differs. A restarted operator keeps no digest of what it wrote (a digest of a
secret is still derived from it), so before this it wrote every such Secret again (201 writes of unchanged objects
after a restart at 10,000 cameras, bench/RESULTS.md); now it reads each once and writes none that is unchanged.

Against the real API server: each test's client is new, as a restarted process's is; what it sends is counted on
the client side (the server gives no sign of a no-op apply: the resourceVersion stays either way)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from lightkube import AsyncClient, KubeConfig

from camfleet.config import FIELD_MANAGER
from camfleet.devcluster.cluster import LocalCluster
from camfleet.kube.ownership import NameConflict
from camfleet.kube.secrets import apply_owned_secret

LABEL_KEYS = ("app.kubernetes.io/component", "camfleet.io/recorder-group")


class CountingClient(AsyncClient):
    """The real client; it only counts the applies it sends."""

    applies = 0

    async def apply(self, *args: Any, **kwargs: Any) -> Any:
        self.applies += 1
        return await super().apply(*args, **kwargs)


@pytest.fixture
def owner(cluster: LocalCluster, namespace: str) -> dict[str, str]:
    """A real object to own the Secret (a made-up owner uid would have the garbage collector delete it)."""
    made = json.loads(cluster.kubectl("create", "configmap", "owner", "-n", namespace, "-o", "json").stdout)
    return {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": made["metadata"]["uid"]}


@pytest.fixture
async def fresh_client(cluster: LocalCluster) -> AsyncIterator[Any]:
    clients: list[CountingClient] = []

    def make() -> CountingClient:
        clients.append(CountingClient(KubeConfig.from_file(str(cluster.kubeconfig)), field_manager=FIELD_MANAGER))
        return clients[-1]

    yield make
    for client in clients:
        await client.close()


def members_secret(namespace: str, owner: dict[str, str], data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "city-rg-0-members",
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/managed-by": "camfleet",
                "app.kubernetes.io/component": "recorder-group-members",
                "camfleet.io/recorder-group": "city-rg-0",
            },
            "ownerReferences": [{**owner, "controller": True, "blockOwnerDeletion": True}],
        },
        "type": "Opaque",
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
    }


def stored(cluster: LocalCluster, namespace: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(
        cluster.kubectl("get", "secret", "city-rg-0-members", "-n", namespace, "-o", "json").stdout
    )
    return found


def decoded(secret: dict[str, Any]) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


async def test_a_restarted_process_writes_an_unchanged_secret_not_again_and_a_changed_one_at_once(
    cluster: LocalCluster, namespace: str, owner: dict[str, str], fresh_client: Any
) -> None:
    data = {"members.json": "[]", "gate.username": "viewer", "gate.password": "first"}
    first = fresh_client()
    await apply_owned_secret(first, members_secret(namespace, owner, data), LABEL_KEYS)
    assert first.applies == 1
    version = stored(cluster, namespace)["metadata"]["resourceVersion"]
    assert decoded(stored(cluster, namespace)) == data

    # A restarted process (a new client, no memory of the write), the same Secret: read, not written.
    restarted = fresh_client()
    await apply_owned_secret(restarted, members_secret(namespace, owner, data), LABEL_KEYS)
    assert restarted.applies == 0, "an unchanged Secret was written again"
    # Someone else's label on it changes nothing of ours: still nothing to write.
    cluster.kubectl("label", "secret", "city-rg-0-members", "-n", namespace, "backup.example.org/include=yes")
    await apply_owned_secret(restarted, members_secret(namespace, owner, data), LABEL_KEYS)
    assert restarted.applies == 0

    # A rotated password is written; a member gone takes its keys with it (the apply owns them).
    rotated = {**data, "gate.password": "second"}
    await apply_owned_secret(fresh_client(), members_secret(namespace, owner, rotated), LABEL_KEYS)
    assert decoded(stored(cluster, namespace)) == rotated
    assert stored(cluster, namespace)["metadata"]["resourceVersion"] != version
    emptied = {"members.json": "[]"}
    last = fresh_client()
    await apply_owned_secret(last, members_secret(namespace, owner, emptied), LABEL_KEYS)
    assert last.applies == 1
    assert decoded(stored(cluster, namespace)) == emptied
    assert stored(cluster, namespace)["metadata"]["labels"]["backup.example.org/include"] == "yes"


async def test_a_secret_of_the_same_name_that_is_not_camfleets_is_refused_and_left_as_it_is(
    cluster: LocalCluster, namespace: str, owner: dict[str, str], fresh_client: Any
) -> None:
    cluster.kubectl("create", "secret", "generic", "city-rg-0-members", "-n", namespace, "--from-literal=x=theirs")
    client = fresh_client()
    with pytest.raises(NameConflict):
        await apply_owned_secret(client, members_secret(namespace, owner, {"members.json": "[]"}), LABEL_KEYS)
    assert client.applies == 0
    assert decoded(stored(cluster, namespace)) == {"x": "theirs"}
