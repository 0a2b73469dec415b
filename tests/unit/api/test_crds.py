"""The generated CRDs: structural, self-explaining, bounded, current, and carrying every rule."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from camfleet.api import KINDS, kind_info
from camfleet.api.crds import all_crds, main, rendered_files, stale_files
from tests.unit.api.manifests import REPO

CRDS = {crd["spec"]["names"]["kind"]: crd for crd in all_crds()}


def schema_of(kind: str) -> dict[str, Any]:
    schema: dict[str, Any] = CRDS[kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node with its JSON path, depth first."""
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from nodes(child, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from nodes(schema["additionalProperties"], f"{path}{{}}")


def all_nodes() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for kind in CRDS:
        for path, node in nodes(schema_of(kind)):
            yield kind, path, node


def rule_messages(kind: str) -> list[str]:
    return [rule["message"] for _, node in nodes(schema_of(kind)) for rule in node.get("x-kubernetes-validations", [])]


def test_every_kind_has_a_crd_in_group_camfleet_io() -> None:
    assert list(CRDS) == [
        "Camera",
        "RecordingPolicy",
        "SharingGrant",
        "GrantApproval",
        "AccessTier",
        "FootageExport",
        "CamfleetAuthorities",
    ]
    for info in KINDS:
        crd = CRDS[info.kind]
        assert crd["metadata"]["name"] == f"{info.plural}.camfleet.io"
        assert crd["spec"]["group"] == "camfleet.io"
        assert [version["name"] for version in crd["spec"]["versions"]] == ["v1alpha1"]
        names = crd["spec"]["names"]
        assert names["categories"] == ["camfleet"], "kubectl get camfleet must list every kind"
        assert names["shortNames"], f"{info.kind} needs a short name"
        assert crd["spec"]["scope"] == ("Namespaced" if info.namespaced else "Cluster")
    assert CRDS["Camera"]["spec"]["names"]["plural"] == "cameras"
    assert CRDS["AccessTier"]["spec"]["scope"] == "Cluster"


def test_short_names_are_unique() -> None:
    short_names = [name for crd in CRDS.values() for name in crd["spec"]["names"]["shortNames"]]
    assert len(short_names) == len(set(short_names))


@pytest.mark.parametrize("forbidden", ["$ref", "$defs", "anyOf", "allOf", "oneOf", "not", "title", "const"])
def test_schemas_are_structural(forbidden: str) -> None:
    offenders = [f"{kind}{path}" for kind, path, node in all_nodes() if forbidden in node]
    assert not offenders, f"{forbidden} left in {offenders}"


def test_every_node_has_a_type_and_no_closed_objects() -> None:
    for kind, path, node in all_nodes():
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), f"{kind}{path} has no type"
        assert node.get("additionalProperties") is not False, f"{kind}{path}: CRDs may not close objects"
        assert "uniqueItems" not in node, f"{kind}{path}: use x-kubernetes-list-type: set"


def test_unknown_fields_are_preserved_only_for_kopf_bookkeeping() -> None:
    preserved = [
        f"{kind}{path}" for kind, path, node in all_nodes() if node.get("x-kubernetes-preserve-unknown-fields")
    ]
    assert preserved == [f"{kind}.status.kopf" for kind in CRDS]


def test_every_field_has_a_description() -> None:
    undescribed = [
        f"{kind}{path}"
        for kind in CRDS
        for path, node in nodes(schema_of(kind))
        for name, child in node.get("properties", {}).items()
        if not child.get("description") and name != "metadata"
    ]
    assert not undescribed, f"fields without description: {undescribed}"


def test_spec_lists_and_strings_are_bounded_for_cel_cost() -> None:
    for kind in CRDS:
        for path, node in nodes(schema_of(kind)["properties"]["spec"], ".spec"):
            if node.get("type") == "array":
                assert "maxItems" in node, f"{kind}{path}"
            if node.get("type") == "string":
                bounded = "maxLength" in node or node.get("format") in ("date", "date-time")
                assert bounded, f"{kind}{path} needs maxLength"


def test_every_list_in_the_api_is_bounded() -> None:
    unbounded = [
        f"{kind}{path}" for kind, path, node in all_nodes() if node.get("type") == "array" and "maxItems" not in node
    ]
    assert not unbounded


def test_integers_carry_a_format_the_api_server_knows() -> None:
    for kind, path, node in all_nodes():
        if node.get("type") == "integer":
            assert node.get("format") in ("int32", "int64"), f"{kind}{path}"


def test_times_are_rfc3339_strings() -> None:
    times = [(kind, path, node) for kind, path, node in all_nodes() if node.get("format") == "date-time"]
    assert times
    for kind, path, node in times:
        assert node["type"] == "string", f"{kind}{path}"
        assert "pattern" in node, f"{kind}{path}"


def test_defaults_live_in_the_schema() -> None:
    spec = schema_of("Camera")["properties"]["spec"]["properties"]
    assert spec["shareClass"]["default"] == "Conditional"
    assert spec["securityLevel"]["default"] == "Standard"
    assert spec["signage"]["default"] == {}
    assert spec["signage"]["properties"]["confirmed"]["default"] is False
    assert spec["decommission"]["default"] is False
    policy = schema_of("RecordingPolicy")["properties"]["spec"]["properties"]
    assert policy["retentionDays"]["default"] == 30
    assert policy["segmentSeconds"]["default"] == 300


@pytest.mark.parametrize("kind", list(CRDS))
def test_status_is_a_subresource_with_conventional_fields(kind: str) -> None:
    version = CRDS[kind]["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    status = schema_of(kind)["properties"]["status"]
    assert {"observedGeneration", "conditions"} <= set(status["properties"])
    assert "phase" not in status["properties"], "conditions, not a phase (API conventions)"
    assert "required" not in status, "every status field is optional"
    conditions = status["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert set(conditions["items"]["required"]) == {"type", "status", "reason", "lastTransitionTime"}
    assert conditions["items"]["properties"]["status"]["enum"] == ["True", "False", "Unknown"]


@pytest.mark.parametrize("kind", list(CRDS))
def test_printer_columns_show_key_fields_then_ready_reason_age(kind: str) -> None:
    columns = CRDS[kind]["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [column["name"] for column in columns[-3:]] == ["Ready", "Reason", "Age"]
    assert columns[-3]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
    assert columns[-1] == {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    assert len([column for column in columns if not column.get("priority")]) >= 5, "key fields shown by default"


def test_camera_columns_show_site_location_and_share_class() -> None:
    columns = {
        column["name"]: column["jsonPath"]
        for column in CRDS["Camera"]["spec"]["versions"][0]["additionalPrinterColumns"]
    }
    assert columns["Location"] == ".spec.location.category"
    assert columns["Share"] == ".spec.shareClass"
    assert columns["Site"] == ".spec.site"


PLACES = [
    "hotel guest rooms",
    "collective dormitories",
    "public bathhouses",
    "toilets",
    "changing rooms",
    "nursing rooms",
    "fitting rooms",
]


def test_privacy_rule_r1_refuses_every_listed_place() -> None:
    category = schema_of("Camera")["properties"]["spec"]["properties"]["location"]["properties"]["category"]
    messages = [rule["message"] for rule in category["x-kubernetes-validations"]]
    assert messages == [f"cameras may not be installed in {place} (privacy rule R1)" for place in PLACES]
    assert "toilet" in category["enum"], "forbidden places are listed so that the refusal can name the rule"


@pytest.mark.parametrize(
    ("kind", "rule"),
    [
        ("RecordingPolicy", "R2"),
        ("Camera", "R9"),
        ("SharingGrant", "R10"),
        ("SharingGrant", "R11"),
        ("SharingGrant", "R12"),
        ("SharingGrant", "R18"),
        ("AccessTier", "R13"),
        ("AccessTier", "R14"),
        ("FootageExport", "R15"),
        ("GrantApproval", "R16"),
    ],
)
def test_rule_messages_name_the_compliance_rule(kind: str, rule: str) -> None:
    assert any(f"rule {rule})" in message for message in rule_messages(kind)), rule_messages(kind)


def test_r9_location_and_purpose_are_immutable() -> None:
    spec = schema_of("Camera")["properties"]["spec"]["properties"]
    for field in ("location", "purpose"):
        rules = [rule for rule in spec[field]["x-kubernetes-validations"] if rule["rule"] == "self == oldSelf"]
        assert rules, f"{field} needs a transition rule"
        assert "(rule R9)" in rules[0]["message"]


def test_every_rule_has_a_message_in_plain_words() -> None:
    for kind, path, node in all_nodes():
        for rule in node.get("x-kubernetes-validations", []):
            assert rule["message"], f"{kind}{path}: {rule['rule']}"
            assert rule["message"][0].islower(), rule["message"]
            assert not rule["message"].endswith("."), rule["message"]


def test_crds_directory_matches_the_models() -> None:
    assert stale_files(REPO / "crds") == [], "run `make crds`"


def test_generation_is_deterministic() -> None:
    assert rendered_files() == rendered_files()
    assert list(rendered_files()) == [f"{info.plural}.camfleet.io.yaml" for info in KINDS]


def test_check_names_the_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["write", str(tmp_path)]) == 0
    assert main(["check", str(tmp_path)]) == 0
    stale = tmp_path / "cameras.camfleet.io.yaml"
    stale.write_text(stale.read_text().replace("maxLength: 128", "maxLength: 64", 1))
    (tmp_path / "widgets.camfleet.io.yaml").write_text("{}\n")
    capsys.readouterr()
    assert main(["check", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert "cameras.camfleet.io.yaml: differs from the models" in error
    assert "widgets.camfleet.io.yaml: no kind generates this file any more" in error
    (tmp_path / "accesstiers.camfleet.io.yaml").unlink()
    assert main(["check", str(tmp_path)]) == 1
    assert "accesstiers.camfleet.io.yaml: missing" in capsys.readouterr().err


def test_yaml_1_1_readers_see_strings_where_strings_are_meant() -> None:
    # kubectl reads YAML 1.1, where a bare y or n is a boolean; every string must survive that.
    for content in rendered_files().values():
        for line in content.splitlines():
            assert not line.rstrip().endswith((" y", " n", "- y", "- n")), line
    assert yaml.safe_load(rendered_files()["cameras.camfleet.io.yaml"])["kind"] == "CustomResourceDefinition"


def test_kind_info_looks_kinds_up_by_name() -> None:
    assert kind_info("Camera").plural == "cameras"
    with pytest.raises(KeyError, match="known: Camera"):
        kind_info("Widget")
