"""A kubeconfig that authenticates as a ServiceAccount, for running the operator with exactly its RBAC.

The token comes from the TokenRequest API (`kubectl create token`); the API server address and its CA are
taken from the admin kubeconfig, so the two differ only in who is asking.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def _current(config: dict[str, Any], section: str, name: str) -> dict[str, Any]:
    for entry in config.get(section) or []:
        if entry["name"] == name:
            found: dict[str, Any] = entry[section.removesuffix("s")]
            return found
    raise LookupError(f"kubeconfig has no {section.removesuffix('s')} named {name!r}")


def token_kubeconfig(admin_kubeconfig: Path, token: str, target: Path, user: str) -> Path:
    """Write a kubeconfig for the admin kubeconfig's current cluster that presents `token`; return its path."""
    admin = yaml.safe_load(admin_kubeconfig.read_text())
    context = _current(admin, "contexts", admin["current-context"])
    cluster = dict(_current(admin, "clusters", context["cluster"]))
    authority = cluster.get("certificate-authority")
    if authority and not Path(authority).is_absolute():
        cluster["certificate-authority"] = str((admin_kubeconfig.parent / authority).resolve())
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "cluster", "cluster": cluster}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": "cluster", "user": user}}],
        "current-context": user,
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    target.touch(mode=0o600)
    target.write_text(yaml.safe_dump(config, sort_keys=False))
    return target
