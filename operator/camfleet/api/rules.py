"""Validation rules written once and enforced twice: by the API server (CEL) and by pydantic.

Each `CelRule` carries the CEL expression that goes into the CRD as an `x-kubernetes-validations`
entry and the Python predicate that mirrors it, so `kubectl apply` and `Model.model_validate`
refuse the same objects with the same words. A hypothesis test against the real API server checks
that the two agree.

Transition rules (those that read `oldSelf`, such as "location is immutable") compare an update
with the stored object. One pydantic parse sees one object, so these rules have no Python mirror;
only the API server enforces them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.alias_generators import to_snake
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

Reason = Literal["FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate"]

VALIDATIONS_KEY = "x-kubernetes-validations"


@dataclass(frozen=True)
class CelRule:
    """One `x-kubernetes-validations` entry and its Python mirror."""

    rule: str
    """CEL expression; `self` is the value of the schema node the rule is attached to."""
    message: str
    """Plain words naming the rule; shown by the API server and by pydantic."""
    check: Callable[[Any], bool] | None = None
    """Python mirror of `rule`, given the validated value; None only for transition rules."""
    reason: Reason | None = None
    field_path: str | None = None
    message_expression: str | None = None
    """CEL that builds a message from the value; `explain` must build the same text in Python."""
    explain: Callable[[Any], str] | None = None

    def __post_init__(self) -> None:
        if self.check is None and "oldSelf" not in self.rule:
            raise ValueError(f"rule {self.rule!r} needs a Python mirror: only transition rules may omit it")
        if (self.message_expression is None) != (self.explain is None):
            raise ValueError(f"rule {self.rule!r}: message_expression and explain go together")

    @property
    def is_transition_rule(self) -> bool:
        return self.check is None

    def schema(self) -> dict[str, str]:
        entry = {"rule": self.rule, "message": self.message}
        if self.message_expression is not None:
            entry["messageExpression"] = self.message_expression
        if self.reason is not None:
            entry["reason"] = self.reason
        if self.field_path is not None:
            entry["fieldPath"] = self.field_path
        return entry

    def refusal(self, value: Any) -> str | None:
        """The message the API server would give for `value`, or None when the rule holds."""
        if self.check is None or self.check(value):
            return None
        return self.explain(value) if self.explain is not None else self.message


def immutable(message: str) -> CelRule:
    """A transition rule: the field keeps the value it was created with."""
    return CelRule(rule="self == oldSelf", message=message)


def refuse(message: str) -> PydanticCustomError:
    # A custom error type keeps pydantic from prefixing "Value error, " so the text matches the
    # API server's message word for word.
    return PydanticCustomError("camfleet_rule", "{rule_message}", {"rule_message": message})


def check_rules(rules: Sequence[CelRule], value: Any) -> None:
    for rule in rules:
        message = rule.refusal(value)
        if message is not None:
            raise refuse(message)


def add_rules_to_schema(schema: JsonSchemaValue, rules: Sequence[CelRule]) -> None:
    if rules:
        schema.setdefault(VALIDATIONS_KEY, []).extend(rule.schema() for rule in rules)


@dataclass(frozen=True, init=False)
class Cel:
    """`Annotated` metadata attaching CEL rules to one field (or to a list item, a map value...)."""

    rules: tuple[CelRule, ...]

    def __init__(self, *rules: CelRule) -> None:
        object.__setattr__(self, "rules", rules)

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        inner = handler(source)
        if all(rule.is_transition_rule for rule in self.rules):
            return inner

        def check(value: Any) -> Any:
            check_rules(self.rules, value)
            return value

        return core_schema.no_info_after_validator_function(check, inner)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = dict(handler(schema))
        add_rules_to_schema(json_schema, self.rules)
        return json_schema


@dataclass(frozen=True)
class RuleRequired:
    """`Annotated` metadata: the field must be present, and a missing field is refused by name.

    A plain schema `required` entry would make the API server answer only "Required value", and it
    also stops the API server from evaluating any CEL rule on the object. Instead the field is left
    out of `required` and a `has()` rule with this message is put on the enclosing object; pydantic
    checks presence before parsing so both refuse with the same words.
    """

    message: str


def _duplicate(values: Sequence[Hashable]) -> Hashable | None:
    seen: set[Hashable] = set()
    for value in values:
        if value in seen:
            return value
        seen.add(value)
    return None


@dataclass(frozen=True)
class ListSet:
    """`Annotated` metadata: a list of unique scalars (`x-kubernetes-list-type: set`)."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        def unique(values: list[Hashable]) -> list[Hashable]:
            duplicate = _duplicate(values)
            if duplicate is not None:
                raise refuse(f"Duplicate value: {duplicate!r}")
            return values

        return core_schema.no_info_after_validator_function(unique, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {**handler(schema), "x-kubernetes-list-type": "set"}


@dataclass(frozen=True, init=False)
class ListMap:
    """`Annotated` metadata: a list of objects keyed by fields (`x-kubernetes-list-type: map`).

    Keys are JSON field names; each must be a required field or have a default.

    Server-side apply merges such lists item by item, and the API server refuses duplicate keys.
    """

    keys: tuple[str, ...] = field(default=())

    def __init__(self, *keys: str) -> None:
        object.__setattr__(self, "keys", keys)

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        attributes = tuple(to_snake(key) for key in self.keys)  # once per schema, not per item validated

        def unique(items: list[Any]) -> list[Any]:
            keys = [tuple(getattr(item, attribute) for attribute in attributes) for item in items]
            duplicate = _duplicate(keys)
            if duplicate is not None:
                values: tuple[Any, ...] = duplicate  # type: ignore[assignment]
                raise refuse(f"Duplicate value: {dict(zip(self.keys, values, strict=True))!r}")
            return items

        return core_schema.no_info_after_validator_function(unique, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {**handler(schema), "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(self.keys)}
