"""The kopf listing camfleet wraps is still kopf's: an upgrade that renames, reshapes or stops calling it fails
here (the wrapper then stays out and kopf lists unpaginated; tests/integration/test_listing_restart.py drives the
wrapped listing through kopf's own watch loop against a real API server)."""

from __future__ import annotations

import kopf
from kopf._cogs.clients import fetching
from kopf._cogs.structs import references

from camfleet.config import OperatorConfig
from camfleet.kopf_settings import configure
from camfleet.kube import kopf_listing


def test_kopf_lists_through_the_function_camfleet_wraps() -> None:
    assert kopf_listing.kopf_listing_is_wrappable()


def test_the_operator_settings_page_kopfs_listing_through_the_restarting_wrapper() -> None:
    settings = kopf.OperatorSettings()
    configure(settings, OperatorConfig())
    assert settings.watching.chunk_size == kopf_listing.PAGE
    assert fetching.fetch_objs is kopf_listing.fetch_objs_restarting


def _listed(name: str) -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": "n", "managedFields": [{"manager": "kubectl"}]}}


def test_kopf_holds_listed_cameras_without_managed_fields_and_other_kinds_whole() -> None:
    cameras = references.Resource(group="camfleet.io", version="v1alpha1", plural="cameras", namespaced=True)
    deployments = references.Resource(group="apps", version="v1", plural="deployments", namespaced=True)
    assert kopf_listing.lean(cameras, [_listed("gate")]) == [{"metadata": {"name": "gate", "namespace": "n"}}]
    # Drift detection reads a Deployment's managedFields (kube/drift.py): they stay.
    assert kopf_listing.lean(deployments, [_listed("rec")]) == [_listed("rec")]
