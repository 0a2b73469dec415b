"""Which namespaces a controller's LIST covers: exactly those kopf serves for the same --namespace patterns."""

from __future__ import annotations

import pytest

from camfleet.kube.listing import namespace_scopes, served


def test_plain_names_are_listed_one_by_one_and_globs_cluster_wide() -> None:
    assert namespace_scopes(["west", "east", "west"]) == ["east", "west"]
    assert namespace_scopes(["fault-*"]) == ["*"]
    assert namespace_scopes(["city, !city-test"]) == ["*"]
    assert namespace_scopes([]) == ["*"]


@pytest.mark.parametrize(
    ("namespace", "patterns", "expected"),
    [
        ("anything", [], True),
        ("fault-1a2b", ["fault-*"], True),
        ("fault", ["fault-*"], False),
        ("city-west", ["city-*, !*-test"], True),
        ("city-test", ["city-*, !*-test"], False),
        ("east", ["west", "east"], True),
    ],
)
def test_served_follows_kopf_patterns(namespace: str, patterns: list[str], expected: bool) -> None:
    assert served(namespace, patterns) is expected
