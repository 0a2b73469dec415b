"""--sharding is opt-in: without it kopf is set up exactly as before; with it, kopf watches only this replica's
cameras (a server-side label selector) and peering is off."""

from __future__ import annotations

import kopf
from kopf._cogs.structs.references import Resource  # kopf pinned; not re-exported

from camfleet.config import OperatorConfig
from camfleet.kopf_settings import configure

CAMERAS = Resource("camfleet.io", "v1alpha1", "cameras", kind="Camera", namespaced=True)
POLICIES = Resource("camfleet.io", "v1alpha1", "recordingpolicies", kind="RecordingPolicy", namespaced=True)


def settings_for(config: OperatorConfig) -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    configure(settings, config)
    return settings


def test_without_sharding_cameras_are_watched_whole_and_replicas_peer() -> None:
    settings = settings_for(OperatorConfig(webhooks=False))
    assert settings.watching.label_selectors.collect(CAMERAS) == []
    assert not settings.peering.standalone
    assert settings.peering.mandatory


def test_with_sharding_kopf_lists_and_watches_only_this_replicas_cameras_and_does_not_peer() -> None:
    settings = settings_for(OperatorConfig(webhooks=False, sharding=True, shard_id="camfleet-7d9f-abc"))
    assert settings.watching.label_selectors.collect(CAMERAS) == ["shard.camfleet.io/replica=camfleet-7d9f-abc"]
    assert settings.watching.label_selectors.collect(POLICIES) == []  # every other kind whole, as before
    assert settings.peering.standalone
    assert not settings.peering.mandatory
