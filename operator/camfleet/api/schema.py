"""Turn pydantic's JSON Schema into a structural OpenAPI v3 schema the API server accepts.

Pydantic writes JSON Schema 2020-12; a CRD needs the structural subset of OpenAPI v3:
- every `$ref` is inlined (CRDs cannot reference), siblings of the `$ref` win over the target;
- an optional field is `anyOf: [X, null]` in pydantic; here it is just X left out of `required`
  (the API server prunes nulls, and pydantic treats null as absent too);
- `title` is dropped (pydantic derives it from the Python name; `description` says more);
- `additionalProperties: false` is forbidden in CRDs; pruning and strict field validation refuse
  unknown fields instead;
- `const` becomes a one-value `enum`;
- integers get `format: int32` or `int64` from their bounds;
- enums get a `maxLength`, so CEL cost estimates stay small.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from camfleet.api.rules import VALIDATIONS_KEY

JsonSchema = dict[str, Any]

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

_DROPPED = frozenset({"title", "$defs", "examples"})


def structural_schema(model: type[BaseModel]) -> JsonSchema:
    """The structural OpenAPI v3 schema of `model`, with every `$ref` inlined."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    definitions = raw.get("$defs", {})
    return _structural(raw, definitions)


def _structural(node: JsonSchema, definitions: dict[str, JsonSchema]) -> JsonSchema:
    node = _resolve(node, definitions)
    result: JsonSchema = {}
    for key, value in node.items():
        if key in _DROPPED or (key == "additionalProperties" and value is False):
            continue
        if key == "properties":
            result[key] = {name: _structural(child, definitions) for name, child in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            result[key] = _structural(value, definitions)
        elif key == "const":
            result["enum"] = [value]
        elif key == "default" and value is None:
            continue
        elif key == "description":
            result[key] = " ".join(value.split())  # docstrings wrap lines; kubectl explain rewraps
        else:
            result[key] = value
    _add_formats(result)
    _check_structural(result)
    return _ordered(result)


_KEY_ORDER = [
    "description",
    "type",
    "format",
    "enum",
    "default",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "maxProperties",
    "items",
    "properties",
    "additionalProperties",
    "required",
]


def _ordered(node: JsonSchema) -> JsonSchema:
    """Readable and stable key order: what the field is first, then its children, then the x- extensions."""
    rank = {key: index for index, key in enumerate(_KEY_ORDER)}
    return dict(sorted(node.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0])))


def _resolve(node: JsonSchema, definitions: dict[str, JsonSchema]) -> JsonSchema:
    """Inline `$ref`, single-entry `allOf` and nullable `anyOf`; keep the node's own keywords."""
    for combinator in ("anyOf", "allOf", "oneOf"):
        if combinator in node:
            branches = [branch for branch in node[combinator] if branch != {"type": "null"}]
            if len(branches) != 1:
                raise ValueError(f"cannot express {combinator} with {len(branches)} branches in a structural schema")
            siblings = {key: value for key, value in node.items() if key != combinator}
            return _merge(_resolve(branches[0], definitions), siblings)
    if "$ref" in node:
        target = definitions[node["$ref"].rsplit("/", 1)[-1]]
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        return _merge(_resolve(target, definitions), siblings)
    return node


def _merge(target: JsonSchema, siblings: JsonSchema) -> JsonSchema:
    """Field-level keywords override the referenced definition; CEL rules of both apply."""
    merged = {**target, **siblings}
    rules = [*target.get(VALIDATIONS_KEY, []), *siblings.get(VALIDATIONS_KEY, [])]
    if rules:
        merged[VALIDATIONS_KEY] = rules
    return merged


def _add_formats(node: JsonSchema) -> None:
    if node.get("type") == "integer" and "format" not in node:
        fits_int32 = node.get("minimum", INT32_MIN) >= INT32_MIN and node.get("maximum", INT32_MAX) <= INT32_MAX
        node["format"] = "int32" if fits_int32 and "minimum" in node and "maximum" in node else "int64"
    if node.get("type") == "string" and "enum" in node and "maxLength" not in node:
        node["maxLength"] = max(len(value) for value in node["enum"])


_ALLOWED = frozenset(_KEY_ORDER) | {
    "minProperties",
    "x-kubernetes-validations",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-preserve-unknown-fields",
}


def _check_structural(node: JsonSchema) -> None:
    unknown = set(node) - _ALLOWED
    if unknown:
        raise ValueError(f"keywords {sorted(unknown)} have no place in a CRD schema: {node}")
    if "type" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        raise ValueError(f"schema node without a type is not structural: {node}")
    if node.get("type") == "array" and "maxItems" not in node:
        raise ValueError(f"every list needs maxItems so CEL cost estimates stay bounded: {node}")
