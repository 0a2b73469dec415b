from __future__ import annotations

from typing import Any

import pytest

from camfleet.api.common import LabelSelector
from camfleet.label_selectors import selector_matches


def selector(**fields: Any) -> LabelSelector:
    return LabelSelector.model_validate(fields)


@pytest.mark.parametrize(
    ("fields", "labels", "matches"),
    [
        ({}, {}, True),
        ({}, None, True),
        ({"matchLabels": {"zone": "a"}}, {"zone": "a", "x": "y"}, True),
        ({"matchLabels": {"zone": "a"}}, {"zone": "b"}, False),
        ({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}, {"zone": "b"}, True),
        ({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}, {}, False),
        ({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}, {}, True),
        ({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}, {"zone": "a"}, False),
        ({"matchExpressions": [{"key": "zone", "operator": "Exists"}]}, {"zone": ""}, True),
        ({"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}, {"zone": "a"}, False),
        (
            {"matchLabels": {"a": "1"}, "matchExpressions": [{"key": "b", "operator": "Exists"}]},
            {"a": "1"},
            False,
        ),
    ],
)
def test_kubernetes_label_selector_semantics(
    fields: dict[str, Any], labels: dict[str, str] | None, matches: bool
) -> None:
    assert selector_matches(selector(**fields), labels) is matches
