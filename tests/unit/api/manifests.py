"""Load the example manifests and the invalid manifests, shared by unit and integration tests.

An invalid manifest (tests/invalid/*.yaml) starts with header comments naming the message the
refusal must contain:

    # expect: <text in both the API server's and pydantic's refusal>
    # expect-server: <text in the API server's refusal>      (instead of expect, when they word it differently)
    # expect-pydantic: <text in pydantic's refusal>

A file with one document must be refused on create. A file with two documents tests a transition
rule: the first is created, and applying the second as an update must be refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from camfleet.api import GROUP, kind_info
from camfleet.api.base import CustomResource

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples"
INVALID = REPO / "tests" / "invalid"


def is_camfleet(document: dict[str, Any]) -> bool:
    return str(document.get("apiVersion", "")).startswith(f"{GROUP}/")


def model_for(document: dict[str, Any]) -> type[CustomResource]:
    return kind_info(document["kind"]).model


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text(encoding="utf-8")) if document]


def example_files() -> list[Path]:
    return sorted(EXAMPLES.glob("*.yaml"))


def example_objects() -> list[tuple[Path, dict[str, Any]]]:
    """(file, document) of every camfleet object in examples/."""
    return [(path, document) for path in example_files() for document in load_documents(path) if is_camfleet(document)]


@dataclass(frozen=True)
class InvalidManifest:
    path: Path
    documents: list[dict[str, Any]]
    expect_server: str
    expect_pydantic: str

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def is_update(self) -> bool:
        """True when the refusal comes from a transition rule: the second document updates the first."""
        return len(self.documents) == 2

    @property
    def refused(self) -> dict[str, Any]:
        return self.documents[-1]


def _headers(path: Path) -> dict[str, str]:
    headers = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        key, _, value = line.lstrip("# ").partition(":")
        if key in ("expect", "expect-server", "expect-pydantic"):
            headers[key] = value.strip()
    return headers


def invalid_manifests() -> list[InvalidManifest]:
    manifests = []
    for path in sorted(INVALID.glob("*.yaml")):
        headers = _headers(path)
        documents = load_documents(path)
        if len(documents) not in (1, 2):
            raise ValueError(f"{path}: expected one document, or two for an update")
        server = headers.get("expect-server", headers.get("expect"))
        pydantic = headers.get("expect-pydantic", headers.get("expect"))
        if not server or not pydantic:
            raise ValueError(f"{path}: needs a '# expect:' header (or expect-server and expect-pydantic)")
        manifests.append(InvalidManifest(path, documents, server, pydantic))
    return manifests
