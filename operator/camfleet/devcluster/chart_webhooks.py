"""The chart's admission webhooks, generated from the kopf handlers the operator registers.

kopf serves every admission handler at `POST /<handler id>` and runs only the handler the path names; a path
it does not know runs nothing and admits the request. So the chart's webhook configurations must list exactly
kopf's handlers, with kopf's rules and the handler ids as paths. This module writes them to
`charts/camfleet/files/admission-webhooks.yaml` (which templates/webhooks.yaml renders) with kopf's own
`build_webhooks`, and `check` fails when handlers and chart part ways (CI).

The API server accepts a service path only when each segment is an RFC 1123 label, so a handler id such as a
function name with "_" cannot be served in a cluster: give the handler `id="with-dashes"`.

    python -m camfleet.devcluster.chart_webhooks write|check [FILE]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

DEFAULT_FILE = Path("charts/camfleet/files/admission-webhooks.yaml")
HEADER = (
    "# Generated from camfleet's kopf admission handlers by `python -m camfleet.devcluster.chart_webhooks write`.\n"
    "# Do not edit: templates/webhooks.yaml renders these into the webhook configurations.\n"
)
NAME_SUFFIX = "camfleet.io"
_PATH_SEGMENT = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class UnservableHandlerId(ValueError):
    """A handler id that cannot be a webhook service path."""


def _handlers() -> list[Any]:
    import kopf

    import camfleet.handlers  # noqa: F401 - registers every handler with kopf's default registry

    return list(kopf.get_default_registry()._webhooks.get_all_handlers())


def _resources(handlers: list[Any]) -> list[Any]:
    from kopf._cogs.structs import references

    from camfleet.api import GROUP, KINDS, VERSION

    resources = [references.Resource(group=GROUP, version=VERSION, plural=info.plural) for info in KINDS]
    # Kinds camfleet does not own but guards (only its own objects, by each handler's objectSelector).
    resources.append(references.Resource(group="", version="v1", plural="persistentvolumeclaims"))
    resources.append(references.Resource(group="", version="v1", plural="configmaps"))
    return [r for r in resources if any(h.selector is not None and h.selector.check(r) for h in handlers)]


def _description(handler: Any) -> str:
    doc = (getattr(handler.fn, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


def webhooks() -> dict[str, list[dict[str, Any]]]:
    """{"mutating": [...], "validating": [...]}: what kopf would put into a managed configuration."""
    from kopf._core.engines.admission import build_webhooks

    handlers = sorted(_handlers(), key=lambda h: str(h.id))
    for handler in handlers:
        if not _PATH_SEGMENT.match(str(handler.id)):
            suggestion = str(handler.id).replace("_", "-").lower()
            raise UnservableHandlerId(
                f"admission handler id {handler.id!r} cannot be a webhook service path (RFC 1123 labels only): "
                f'give it id="{suggestion}" in its kopf decorator'
            )
    resources = _resources(handlers)
    found: dict[str, list[dict[str, Any]]] = {"mutating": [], "validating": []}
    for handler in handlers:
        [built] = build_webhooks(
            [handler], resources=resources, name_suffix=NAME_SUFFIX, client_config={"service": {"path": ""}}
        )
        found[str(handler.reason)].append(
            {
                "name": built["name"],
                **({"description": _description(handler)} if _description(handler) else {}),
                "path": built["clientConfig"]["service"]["path"],
                "failurePolicy": built["failurePolicy"],
                "sideEffects": built["sideEffects"],
                "matchPolicy": built["matchPolicy"],
                "rules": built["rules"],
                **({"objectSelector": built["objectSelector"]} if built["objectSelector"] else {}),
            }
        )
    return found


def render() -> str:
    return HEADER + yaml.safe_dump(webhooks(), sort_keys=False, width=120)


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2) or argv[0] not in ("write", "check"):
        print("usage: python -m camfleet.devcluster.chart_webhooks write|check [FILE]", file=sys.stderr)
        return 2
    target = Path(argv[1]) if len(argv) == 2 else DEFAULT_FILE
    try:
        content = render()
    except UnservableHandlerId as error:
        print(f"camfleet: {error}", file=sys.stderr)
        return 1
    if argv[0] == "write":
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
        print(f"wrote {target}")
        return 0
    if not target.exists() or target.read_text(encoding="utf-8") != content:
        print(f"{target} differs from the operator's admission handlers; run `make chart-webhooks`", file=sys.stderr)
        return 1
    print(f"{target}: matches the operator's admission handlers")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
