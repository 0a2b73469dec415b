"""Condition types come only from each kind's enum: the status model refuses any other, and the docs list them."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from camfleet.api.conditions import ObjectStatus
from camfleet.api.registry import KINDS, KindInfo

DOCS = Path(__file__).resolve().parents[3] / "docs" / "kinds"
IDS = [info.kind for info in KINDS]


def status_model(info: KindInfo) -> type[ObjectStatus]:
    model = info.model.model_fields["status"].annotation
    candidates = [arg for arg in getattr(model, "__args__", (model,)) if isinstance(arg, type)]
    found = next(arg for arg in candidates if issubclass(arg, ObjectStatus))
    return found


def enum_of(info: KindInfo) -> type[StrEnum]:
    declared = status_model(info).condition_types
    assert declared is not None, f"{info.kind}Status names no condition enum"
    return declared


def condition(condition_type: str) -> dict[str, Any]:
    return {
        "type": condition_type,
        "status": "True",
        "reason": "Because",
        "lastTransitionTime": datetime(2030, 1, 1, tzinfo=UTC),
    }


@pytest.mark.parametrize("info", KINDS, ids=IDS)
def test_every_kind_declares_its_condition_enum_with_ready(info: KindInfo) -> None:
    assert "Ready" in {member.value for member in enum_of(info)}


@pytest.mark.parametrize("info", KINDS, ids=IDS)
def test_every_declared_condition_type_is_accepted(info: KindInfo) -> None:
    types = [member.value for member in enum_of(info)]
    status = status_model(info).model_validate({"conditions": [condition(t) for t in types]})
    assert [c.type for c in status.conditions] == types


@pytest.mark.parametrize("info", KINDS, ids=IDS)
@pytest.mark.parametrize("stray", ["Bogus", "Progressing"])
def test_a_condition_type_outside_the_enum_is_refused(info: KindInfo, stray: str) -> None:
    with pytest.raises(ValidationError, match=f"condition type.*{stray}.*not declared by {enum_of(info).__name__}"):
        status_model(info).model_validate({"conditions": [condition("Ready"), condition(stray)]})


def test_an_enum_from_another_kind_is_refused_too() -> None:
    """CamerasFound belongs to SharingGrant: a Camera status carrying it is drift."""
    camera = next(info for info in KINDS if info.kind == "Camera")
    with pytest.raises(ValidationError, match="CamerasFound"):
        status_model(camera).model_validate({"conditions": [condition("CamerasFound")]})


@pytest.mark.parametrize("info", KINDS, ids=IDS)
def test_the_kind_page_lists_exactly_the_enum(info: KindInfo) -> None:
    page = (DOCS / f"{info.kind.lower()}.md").read_text()
    enum = enum_of(info)
    line = re.search(rf"^Conditions \(`{enum.__name__}`\): (.*?)\.$", page, re.MULTILINE | re.DOTALL)
    assert line is not None, f"docs/kinds/{info.kind.lower()}.md must say: Conditions (`{enum.__name__}`): ..."
    listed = re.findall(r"`([A-Za-z]+)`", line.group(1))
    assert listed == [member.value for member in enum]
