"""Kubernetes label-selector semantics, for selectors in camfleet specs (recording policies, grants)."""

from __future__ import annotations

from collections.abc import Mapping

from camfleet.api.common import LabelSelector, LabelSelectorRequirement, SelectorOperator


def requirement_matches(requirement: LabelSelectorRequirement, labels: Mapping[str, str]) -> bool:
    present = requirement.key in labels
    match requirement.operator:
        case SelectorOperator.IN:
            return present and labels[requirement.key] in requirement.values
        case SelectorOperator.NOT_IN:
            # As in Kubernetes: an object without the label is "not in" any set of values.
            return not present or labels[requirement.key] not in requirement.values
        case SelectorOperator.EXISTS:
            return present
        case SelectorOperator.DOES_NOT_EXIST:
            return not present


def selector_matches(selector: LabelSelector, labels: Mapping[str, str] | None) -> bool:
    """All of matchLabels and matchExpressions must hold; an empty selector matches everything."""
    labels = labels or {}
    return all(labels.get(key) == value for key, value in selector.match_labels.items()) and all(
        requirement_matches(requirement, labels) for requirement in selector.match_expressions
    )
