"""Base classes shared by every camfleet kind.

JSON field names are camelCase (Kubernetes convention) while Python attributes are snake_case;
both spellings are accepted on input and `model_dump()` writes camelCase.

Spec models parse the way the API server does, so that "pydantic accepts" means "the API server
accepts":
- unknown fields are refused (kubectl sends `fieldValidation=Strict` by default);
- `null` means "absent", as the API server prunes nulls of non-nullable fields before defaulting;
- scalars are strict: "30" is not an integer and "true" is not a boolean.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler, model_validator
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from camfleet.api.constants import API_VERSION
from camfleet.api.rules import CelRule, RuleRequired, add_rules_to_schema, check_rules, refuse
from camfleet.api.types import Rfc3339Time

# The field facts below are computed once per model class: parsing runs for every object the operator reads.


@cache
def _required_by_rule(model: type[BaseModel]) -> tuple[tuple[str, str, RuleRequired], ...]:
    """(Python name, JSON name, marker) of each field whose absence is refused by a named rule."""
    return tuple(
        (name, info.alias or name, marker)
        for name, info in model.model_fields.items()
        for marker in info.metadata
        if isinstance(marker, RuleRequired)
    )


@cache
def _declared_names(model: type[BaseModel]) -> frozenset[str]:
    """Python and JSON names of every field."""
    return frozenset(
        name for field_name, info in model.model_fields.items() for name in (field_name, info.alias or field_name)
    )


@cache
def _integer_names(model: type[BaseModel]) -> frozenset[str]:
    """Python and JSON names of every integer field."""
    return frozenset(
        {
            name
            for field_name, info in model.model_fields.items()
            if info.annotation in (int, int | None)
            for name in (field_name, info.alias or field_name)
        }
    )


def _presence_rule(json_name: str, marker: RuleRequired) -> CelRule:
    return CelRule(
        rule=f"has(self.{json_name})",
        message=marker.message,
        check=lambda _: True,  # presence is checked on the raw input, before parsing
        reason="FieldValueRequired",
        field_path=f".{json_name}",
    )


def _schema_with_rules(schema: JsonSchemaValue, model: type[BaseModel]) -> None:
    """`json_schema_extra` hook: move rule-required fields from `required` into named `has()` rules."""
    presence = _required_by_rule(model)
    rule_named = {json_name for _, json_name, _ in presence}
    if "required" in schema:
        schema["required"] = [name for name in schema["required"] if name not in rule_named]
        if not schema["required"]:
            del schema["required"]
    rules = [_presence_rule(json_name, marker) for _, json_name, marker in presence]
    cel_rules: tuple[CelRule, ...] = getattr(model, "cel_rules", ())
    add_rules_to_schema(schema, [*rules, *cel_rules])


class CamfleetModel(BaseModel):
    """Base of every spec object: parses exactly what the API server would store."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        use_attribute_docstrings=True,
        json_schema_extra=_schema_with_rules,
    )

    cel_rules: ClassVar[tuple[CelRule, ...]] = ()
    """Rules on the whole object: written into the CRD and checked after parsing."""

    @model_validator(mode="before")
    @classmethod
    def _read_like_the_api_server(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        # null means absent for declared fields only: an unknown field is refused even when null.
        declared = _declared_names(cls)
        present = {key: value for key, value in data.items() if value is not None or key not in declared}
        # JSON has one number type: the API server takes 300.0 (or 3e2) for the integer 300, not 300.5.
        for key in _integer_names(cls).intersection(present):
            value = present[key]
            if isinstance(value, float) and value.is_integer():
                present[key] = int(value)
        for name, json_name, marker in _required_by_rule(cls):
            if name not in present and json_name not in present:
                raise refuse(marker.message)
        return present

    @model_validator(mode="after")
    def _check_object_rules(self) -> Self:
        check_rules(self.cel_rules, self)
        return self

    def to_api(self) -> dict[str, Any]:
        """JSON-ready dict with camelCase keys and absent fields left out, ready to send."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class StatusModel(CamfleetModel):
    """Base of status objects, written by the operator.

    Unknown fields are ignored rather than refused so that an older operator can still read a
    status written by a newer one during an upgrade.
    """

    model_config = ConfigDict(extra="ignore")


class ObjectMeta(BaseModel):
    """The part of Kubernetes object metadata the operator reads; other fields are ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, validate_by_alias=True, serialize_by_alias=True, extra="ignore"
    )

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: Rfc3339Time | None = None
    deletion_timestamp: Rfc3339Time | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    finalizers: list[str] = Field(default_factory=list)

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        # A CRD may only declare metadata as a plain object; the API server validates ObjectMeta itself.
        return {"type": "object"}


class CustomResource(CamfleetModel):
    """Envelope of every camfleet object: apiVersion, kind, metadata, spec and status.

    `Kind.model_validate(body)` accepts a kopf body (any mapping) as it is.
    """

    api_version: Literal["camfleet.io/v1alpha1"] = Field(default=API_VERSION, alias="apiVersion")
    """APIVersion defines the versioned schema of this representation of an object."""
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    """Standard object metadata."""
