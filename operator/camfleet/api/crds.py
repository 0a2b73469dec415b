"""Generate the CustomResourceDefinitions from the pydantic models.

python -m camfleet.api.crds write crds/   # (re)write one YAML file per kind
python -m camfleet.api.crds check crds/   # exit 1, naming the file, when crds/ is stale
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from camfleet.api.constants import CATEGORY, GROUP, VERSION
from camfleet.api.registry import KINDS, KindInfo
from camfleet.api.schema import JsonSchema, structural_schema

HEADER = "# Generated from the pydantic models in camfleet.api by `python -m camfleet.api.crds write`. Do not edit.\n"

_API_VERSION_DESCRIPTION = (
    "APIVersion defines the versioned schema of this representation of an object. Servers should convert"
    " recognized schemas to the latest internal value, and may reject unrecognized values."
)
_KIND_DESCRIPTION = (
    "Kind is a string value representing the REST resource this object represents. Servers may infer this from"
    " the endpoint the client submits requests to. In CamelCase."
)
_KOPF_STATUS = {
    "description": "Handler progress kept by the kopf framework the operator runs on; not part of the API.",
    "type": "object",
    "x-kubernetes-preserve-unknown-fields": True,
}


def _object_schema(info: KindInfo) -> JsonSchema:
    schema = structural_schema(info.model)
    generated = schema["properties"]
    status = generated["status"]
    # kopf stores handler progress in status.kopf; without this it would be pruned on every write.
    status["properties"]["kopf"] = _KOPF_STATUS
    # The API server owns apiVersion, kind and metadata (checked against the URL and ObjectMeta), so
    # the CRD declares them as plain types.
    schema["properties"] = {
        "apiVersion": {"description": _API_VERSION_DESCRIPTION, "type": "string"},
        "kind": {"description": _KIND_DESCRIPTION, "type": "string"},
        "metadata": {"type": "object"},
        "spec": generated["spec"],
        "status": status,
    }
    schema["required"] = ["spec"]
    return schema


def crd(info: KindInfo) -> dict[str, Any]:
    """The CustomResourceDefinition of one kind."""
    version: dict[str, Any] = {
        "name": VERSION,
        "served": True,
        "storage": True,
        "subresources": {"status": {}},
        "additionalPrinterColumns": [column.crd() for column in info.printer_columns],
    }
    if info.selectable_fields:
        version["selectableFields"] = [{"jsonPath": path} for path in info.selectable_fields]
    version["schema"] = {"openAPIV3Schema": _object_schema(info)}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": info.crd_name, "labels": {"app.kubernetes.io/part-of": "camfleet"}},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": info.kind,
                "listKind": f"{info.kind}List",
                "plural": info.plural,
                "singular": info.singular,
                "shortNames": list(info.short_names),
                "categories": [CATEGORY],
            },
            "scope": "Namespaced" if info.namespaced else "Cluster",
            "versions": [version],
        },
    }


def all_crds() -> list[dict[str, Any]]:
    """Every camfleet CRD, in the order of `KINDS`."""
    return [crd(info) for info in KINDS]


def file_name(info: KindInfo) -> str:
    return f"{info.crd_name}.yaml"


class _Dumper(yaml.SafeDumper):
    """PyYAML writes YAML 1.2-ish plain scalars; kubectl reads YAML 1.1, where a bare y or n is a boolean."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "'" if value in ("y", "Y", "n", "N") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def render(definition: dict[str, Any]) -> str:
    return HEADER + yaml.dump(definition, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110)


def rendered_files() -> dict[str, str]:
    """File name -> content of every CRD file."""
    return {file_name(info): render(crd(info)) for info in KINDS}


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in rendered_files().items():
        path = directory / name
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written


def stale_files(directory: Path) -> list[str]:
    """One line per file in `directory` that differs from the models: missing, outdated or left over."""
    expected = rendered_files()
    problems = []
    for name, content in expected.items():
        path = directory / name
        if not path.exists():
            problems.append(f"{path}: missing")
        elif path.read_text(encoding="utf-8") != content:
            problems.append(f"{path}: differs from the models")
    for path in sorted(directory.glob(f"*.{GROUP}.yaml")):
        if path.name not in expected:
            problems.append(f"{path}: no kind generates this file any more")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("write", "check"):
        print("usage: python -m camfleet.api.crds write|check DIR", file=sys.stderr)
        return 2
    command, directory = argv[0], Path(argv[1])
    if command == "write":
        for path in write(directory):
            print(f"wrote {path}")
        return 0
    problems = stale_files(directory)
    if problems:
        print("CRDs are stale; run `python -m camfleet.api.crds write crds/` (make crds):", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"{directory}: CRDs match the models")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
