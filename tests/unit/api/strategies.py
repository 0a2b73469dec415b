"""Hypothesis strategies for every camfleet kind: valid objects, and candidates that may or may not be valid.

`valid_objects(kind)` builds objects that follow every rule. `candidates(kind)` mixes those with
perturbed copies: values on both sides of each rule's and constraint's boundary, wrong types,
missing fields, unknown fields, sloppy times. The strategies are written from the rules
(COMPLIANCE.md, the issue, Kubernetes conventions), not derived from the pydantic models, so the
property test "the API server accepts exactly when pydantic accepts" compares two independent judges.

Objects are plain JSON-ready dicts with camelCase keys, without metadata.namespace (the test sets it).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

Json = dict[str, Any]
Path = tuple[str | int, ...]

API_VERSION = "camfleet.io/v1alpha1"

# R1 (QD-2010 art. 9) and the places the API does allow.
FORBIDDEN_CATEGORIES = [
    "hotelGuestRoom",
    "dormitory",
    "bathhouse",
    "toilet",
    "changingRoom",
    "nursingRoom",
    "fittingRoom",
]
ALLOWED_CATEGORIES = [
    "street",
    "intersection",
    "highway",
    "bridge",
    "tunnel",
    "parkingLot",
    "park",
    "riverbank",
    "transitStation",
    "publicSquare",
    "commercialDistrict",
    "residentialArea",
    "governmentBuilding",
    "school",
    "hospital",
    "other",
]
SHARE_CLASSES = ["Unconditional", "Conditional", "NotShared"]
PERMISSIONS = ["LiveView", "Playback", "PTZControl", "Export"]
APPLICATION_FIELDS = [
    "applicantDepartment",
    "contact",
    "reason",
    "dataType",
    "dataContent",
    "scopeOfUse",
    "securityMeasures",
]

# ---------------------------------------------------------------------------------------------- building blocks

names = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?\Z")
"""Kubernetes object names and namespaces (RFC 1123 labels)."""

_characters = st.characters(min_codepoint=0x20, max_codepoint=0x1F64F, exclude_categories=("Cs",))


def text(max_size: int = 40) -> st.SearchStrategy[str]:
    """Human text, including Chinese and emoji; never empty."""
    return st.text(_characters, min_size=1, max_size=max_size)


label_values = st.from_regex(r"\A([A-Za-z0-9]([-A-Za-z0-9_.]{0,10}[A-Za-z0-9])?)?\Z")
label_keys = st.sampled_from(["app", "camfleet.io/zone", "camfleet.io/recorded", "example.com/tier-1", "a.b"])
hostnames = st.one_of(
    st.from_regex(r"\A[a-z0-9]([-a-z0-9.]{0,20}[a-z0-9])?\Z"),
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda octets: ".".join(map(str, octets))),
)
tokens = st.from_regex(r"\A[!-~]{1,20}\Z")

ZONES = [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))]


def rfc3339(moment: datetime, use_z: bool = True) -> str:
    text_form = moment.isoformat()
    return text_form.replace("+00:00", "Z") if use_z else text_form


instants = st.datetimes(
    min_value=datetime(2001, 1, 1), max_value=datetime(2098, 12, 31), timezones=st.just(UTC)
).flatmap(lambda moment: st.sampled_from([moment, moment.replace(microsecond=0)]))
"""Points in time, half of them on whole seconds."""


@st.composite
def times(draw: st.DrawFn, at: datetime | None = None) -> str:
    """An RFC 3339 time in one of several zones."""
    moment = at if at is not None else draw(instants)
    return rfc3339(moment.astimezone(draw(st.sampled_from(ZONES))), use_z=draw(st.booleans()))


@st.composite
def periods(draw: st.DrawFn, longest: timedelta = timedelta(days=400)) -> Json:
    """A period that starts before it ends and lasts at most `longest`."""
    start = draw(instants)
    length = draw(st.timedeltas(min_value=timedelta(microseconds=1), max_value=longest))
    return {"start": draw(times(start)), "end": draw(times(start + length))}


@st.composite
def periods_near(draw: st.DrawFn, bound: timedelta) -> Json:
    """A period whose length lies on either side of `bound`, or is zero or negative."""
    start = draw(instants.map(lambda moment: moment.replace(microsecond=0)))
    second = timedelta(seconds=1)
    length = draw(st.sampled_from([bound - second, bound, bound + second, timedelta(0), -second, bound / 3, bound * 2]))
    return {"start": draw(times(start)), "end": draw(times(start + length))}


SLOPPY_TIMES = [
    "2030-01-01T00:00:00z",
    "2030-01-01t00:00:00Z",
    "2030-01-01T00:00:00",
    "2030-01-01 00:00:00Z",
    "2030-02-30T00:00:00Z",
    "2030-01-01T24:00:00Z",
    "2030-01-01T00:00:60Z",
    "2030-01-01T00:00:00.1234567Z",
    "2030-01-01T00:00:00+24:00",
    "2030-01-01",
    "0999-01-01T00:00:00Z",
    "2024-02-29T23:59:59.5+08:00",
    "2023-02-29T00:00:00Z",
    "tomorrow",
]

label_selectors = st.fixed_dictionaries(
    {},
    optional={
        "matchLabels": st.dictionaries(label_keys, label_values, max_size=3),
        "matchExpressions": st.lists(
            st.one_of(
                st.fixed_dictionaries(
                    {
                        "key": label_keys,
                        "operator": st.sampled_from(["In", "NotIn"]),
                        "values": st.lists(label_values, min_size=1, max_size=3, unique=True),
                    }
                ),
                st.fixed_dictionaries(
                    {"key": label_keys, "operator": st.sampled_from(["Exists", "DoesNotExist"])},
                    optional={"values": st.just([])},
                ),
            ),
            max_size=3,
        ),
    },
)


def camera_selections(namespace: st.SearchStrategy[str] = names) -> st.SearchStrategy[Json]:
    by_names = st.fixed_dictionaries(
        {"namespace": namespace, "names": st.lists(names, min_size=1, max_size=4, unique=True)}
    )
    by_selector = st.fixed_dictionaries({"namespace": namespace, "selector": label_selectors})
    return st.one_of(by_names, by_selector)


video_profiles = st.fixed_dictionaries(
    {},
    optional={
        "encoding": st.sampled_from(["H264", "H265", "JPEG"]),
        "resolution": st.fixed_dictionaries({"width": st.integers(160, 7680), "height": st.integers(120, 4320)}),
        "fps": st.integers(1, 60),
        "bitrateKbps": st.integers(64, 51200),
        "gop": st.integers(1, 600),
    },
)


def envelope(kind: str, spec: Json) -> Json:
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": f"hypothesis-{kind.lower()}"}, "spec": spec}


# ---------------------------------------------------------------------------------------------- valid objects

points = st.fixed_dictionaries({"left": st.floats(0, 1), "top": st.floats(0, 1)})

device_settings = st.fixed_dictionaries(
    {},
    optional={
        "time": st.fixed_dictionaries(
            {},
            optional={
                "ntpServers": st.lists(hostnames, max_size=4),
                "timezone": st.sampled_from(["CST-8", "UTC0", "EST5EDT,M3.2.0,M11.1.0"]),
                "maxDriftSeconds": st.integers(1, 3600),
            },
        ),
        "videoEncoder": video_profiles,
        "privacyMasks": st.lists(
            st.fixed_dictionaries({"name": names, "polygon": st.lists(points, min_size=3, max_size=16)}),
            max_size=3,
            unique_by=lambda mask: mask["name"],
        ),
        "ptzHome": st.fixed_dictionaries(
            {"pan": st.floats(-1, 1), "tilt": st.floats(-1, 1)}, optional={"zoom": st.floats(0, 1)}
        ),
    },
)

endpoints = st.builds(
    "{}://{}{}{}".format,
    st.sampled_from(["http", "https"]),
    hostnames,
    st.one_of(st.just(""), st.integers(1, 65535).map(":{}".format)),
    st.sampled_from(["/onvif/device_service", "", "/"]),
)

camera_specs = st.fixed_dictionaries(
    {
        "endpoint": endpoints,
        "credentialsSecretRef": st.fixed_dictionaries(
            {"name": names}, optional={"usernameKey": st.just("user"), "passwordKey": st.just("pass.word")}
        ),
        "site": text(),
        "location": st.fixed_dictionaries(
            {"category": st.sampled_from(ALLOWED_CATEGORIES), "description": text()},
            optional={
                "address": text(),
                "coordinates": st.fixed_dictionaries(
                    {"latitude": st.floats(-90, 90), "longitude": st.floats(-180, 180)}
                ),
            },
        ),
        "purpose": text(),
        "legalBasis": text(),
    },
    optional={
        "securityLevel": st.sampled_from(["Standard", "Restricted"]),
        "shareClass": st.sampled_from(SHARE_CLASSES),
        "acceptanceDate": st.dates(min_value=datetime(1990, 1, 1).date()).map(lambda day: day.isoformat()),
        "filingReference": text(),
        "signage": st.fixed_dictionaries({}, optional={"confirmed": st.booleans()}),
        "device": device_settings,
        "recordingPolicyRef": st.fixed_dictionaries({"name": names}),
        "decommission": st.booleans(),
    },
)

recording_policy_specs = st.fixed_dictionaries(
    {"cameraSelector": label_selectors},
    optional={
        "priority": st.integers(0, 1000),
        "retentionDays": st.integers(30, 3650),
        "segmentSeconds": st.integers(10, 3600),
        "storage": st.fixed_dictionaries(
            {}, optional={"storageClassName": names, "headroomPercent": st.integers(0, 500)}
        ),
        "requireEncryption": st.booleans(),
        "transcodeProfiles": st.lists(
            st.tuples(names, video_profiles, st.booleans()).map(
                lambda parts: {"name": parts[0], **parts[1], "maskPrivacy": parts[2]}
            ),
            max_size=4,
            unique_by=lambda profile: profile["name"],
        ),
        "legalHold": st.one_of(
            st.just({}), st.just({"enabled": False}), text().map(lambda ref: {"enabled": True, "reference": ref})
        ),
    },
)

applications = st.fixed_dictionaries({field: text() for field in APPLICATION_FIELDS})


@st.composite
def sharing_grant_specs(draw: st.DrawFn) -> Json:
    emergency = draw(st.booleans())
    share_class = draw(st.sampled_from(SHARE_CLASSES if emergency else SHARE_CLASSES[:2]))
    permissions = draw(st.lists(st.sampled_from(PERMISSIONS), min_size=1, max_size=4, unique=True))
    spec: Json = {
        "cameras": draw(camera_selections()),
        "shareClass": share_class,
        "permissions": permissions,
        "period": draw(periods(timedelta(hours=72) if emergency else timedelta(days=400))),
        "purpose": draw(text()),
    }
    if emergency:
        spec["emergency"] = draw(st.fixed_dictionaries({"incidentReference": text()}, optional={"description": text()}))
    needs_application = not emergency and not (share_class == "Unconditional" and permissions == ["LiveView"])
    if needs_application or draw(st.booleans()):
        spec["application"] = draw(applications)
    if draw(st.booleans()):
        spec["transcodeProfile"] = draw(names)
    return spec


@st.composite
def grant_approval_specs(draw: st.DrawFn) -> Json:
    kind = draw(st.sampled_from(["SharingGrant", "FootageExport"]))
    target: Json = {"kind": kind, "name": draw(names)}
    if kind == "SharingGrant":
        target["namespace"] = draw(names)
    spec: Json = {"target": target, "verdict": draw(st.sampled_from(["Approve", "Deny"]))}
    if spec["verdict"] == "Deny" or draw(st.booleans()):
        spec["reason"] = draw(text())
    if draw(st.booleans()):
        spec["documentReference"] = draw(text())
    return spec


@st.composite
def month_days(draw: st.DrawFn) -> str:
    day = draw(st.dates(min_value=datetime(2024, 1, 1).date(), max_value=datetime(2024, 12, 31).date()))
    return day.strftime("%m-%d")  # 2024 is a leap year, so 02-29 comes up too


time_windows = st.one_of(
    st.fixed_dictionaries({"recurring": st.fixed_dictionaries({"start": month_days(), "end": month_days()})}),
    st.fixed_dictionaries({"absolute": periods()}),
)

access_tier_specs = st.fixed_dictionaries(
    {"level": st.integers(1, 4)},
    optional={
        "description": text(),
        "subjects": st.lists(
            st.fixed_dictionaries({"department": names}, optional={"windows": st.lists(time_windows, max_size=3)}),
            max_size=4,
            unique_by=lambda subject: subject["department"],
        ),
        "authorizedCameras": st.lists(camera_selections(), max_size=3),
    },
)

footage_export_specs = st.fixed_dictionaries(
    {
        "cameras": st.lists(names, min_size=1, max_size=4, unique=True),
        "ranges": st.lists(periods(timedelta(hours=24)), min_size=1, max_size=3),
        "purpose": text(),
        "caseReference": text(),
    },
    optional={"maskPrivacy": st.booleans(), "storageClassName": names},
)

SPECS: dict[str, st.SearchStrategy[Json]] = {
    "Camera": camera_specs,
    "RecordingPolicy": recording_policy_specs,
    "SharingGrant": sharing_grant_specs(),
    "GrantApproval": grant_approval_specs(),
    "AccessTier": access_tier_specs,
    "FootageExport": footage_export_specs,
}
KINDS = list(SPECS)


def valid_objects(kind: str) -> st.SearchStrategy[Json]:
    """Objects of `kind` that follow every rule."""
    return SPECS[kind].map(lambda spec: envelope(kind, spec))


# ---------------------------------------------------------------------------------------------- perturbations

Perturbation = Callable[[st.DrawFn, Json], None]
"""Changes a spec in place; the result may or may not still be valid."""

odd_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    text(),
    st.sampled_from(["", "true", "30", "5m", {}, []]),
    st.lists(text(8), max_size=2),
)


def _paths(node: Any, prefix: Path = ()) -> list[Path]:
    found: list[Path] = []
    children: list[tuple[str | int, Any]] = []
    if isinstance(node, dict):
        children = list(node.items())
    elif isinstance(node, list):
        children = list(enumerate(node))
    for key, child in children:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key)))
    return found


def _parent(spec: Json, path: Path) -> Any:
    node: Any = spec
    for key in path[:-1]:
        node = node[key]
    return node


def replace_anywhere(draw: st.DrawFn, spec: Json) -> None:
    paths = _paths(spec)
    if paths:
        path = draw(st.sampled_from(paths))
        _parent(spec, path)[path[-1]] = draw(odd_values)


def delete_anywhere(draw: st.DrawFn, spec: Json) -> None:
    paths = _paths(spec)
    if paths:
        path = draw(st.sampled_from(paths))
        del _parent(spec, path)[path[-1]]


def add_unknown_field(draw: st.DrawFn, spec: Json) -> None:
    objects = [(), *[path for path in _paths(spec) if isinstance(_parent(spec, (*path, "")), dict)]]
    path = draw(st.sampled_from(objects))
    _parent(spec, (*path, ""))[draw(st.sampled_from(["unexpected", "retention_days", "Purpose"]))] = draw(odd_values)


def setter(path: Path, values: st.SearchStrategy[Any]) -> Perturbation:
    """Set `path` (creating objects on the way) to a drawn value."""

    def perturb(draw: st.DrawFn, spec: Json) -> None:
        node = spec
        for key in path[:-1]:
            node = node.setdefault(key, {}) if isinstance(node, dict) else node[key]
        node[path[-1]] = draw(values)

    return perturb


def remover(*keys: str) -> Perturbation:
    def perturb(draw: st.DrawFn, spec: Json) -> None:
        spec.pop(draw(st.sampled_from(keys)), None)

    return perturb


def around(limit: int) -> st.SearchStrategy[str]:
    """Strings of exactly limit-1, limit and limit+1 characters."""
    return st.sampled_from([limit - 1, limit, limit + 1]).map(lambda size: "界" * size)


def sloppy_or_valid_times() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(SLOPPY_TIMES), times())


camera_perturbations: list[Perturbation] = [
    setter(("location", "category"), st.sampled_from([*FORBIDDEN_CATEGORIES, *ALLOWED_CATEGORIES, "Toilet", ""])),
    setter(("securityLevel",), st.sampled_from(["Standard", "Restricted", "restricted", "Secret"])),
    setter(("shareClass",), st.sampled_from([*SHARE_CLASSES, "Shared", "notShared"])),
    setter(("site",), around(128)),
    setter(("purpose",), around(1024)),
    setter(
        ("endpoint",),
        st.sampled_from(
            [
                "http://cam.local",
                "https://[fe80::1]:8443/onvif/device_service",
                "rtsp://10.0.0.1/stream",
                "http://",
                "http://host/with space",
                "HTTP://HOST/",
                "http://-bad/",
                "http://a_b/",
                "http://10.0.0.1:80/onvif/device_service?x=1",
            ]
        ),
    ),
    setter(
        ("acceptanceDate",),
        st.sampled_from(["2024-02-29", "2023-02-29", "2024-13-01", "2024-1-01", "0999-12-31", "2024-03-01T00:00:00Z"]),
    ),
    setter(
        ("location", "coordinates"),
        st.fixed_dictionaries({"latitude": st.floats(-100, 100), "longitude": st.floats(-200, 200)}),
    ),
    setter(("device", "videoEncoder", "fps"), st.one_of(st.integers(-1, 70), st.sampled_from([25.0, 25.5]))),
    setter(
        ("device", "videoEncoder", "resolution"),
        st.fixed_dictionaries({"width": st.integers(100, 8000), "height": st.integers(100, 5000)}),
    ),
    setter(("device", "time", "ntpServers"), st.lists(hostnames, max_size=6)),
    setter(("device", "time", "maxDriftSeconds"), st.integers(0, 3601)),
    setter(("device", "time", "timezone"), st.sampled_from(["CST-8", "", "UTC 0", "x" * 64, "x" * 65])),
    setter(
        ("device", "privacyMasks"),
        st.lists(
            st.fixed_dictionaries(
                {"name": st.sampled_from(["a", "b", "B"]), "polygon": st.lists(points, min_size=2, max_size=17)}
            ),
            max_size=9,
        ),
    ),
    setter(("credentialsSecretRef", "name"), st.sampled_from(["Bad_Name", "a" * 253, "a" * 254, "a.b", "-a"])),
    setter(("decommission",), st.sampled_from([True, "true", 1])),
    setter(("acceptanceDate",), st.sampled_from(SLOPPY_TIMES)),
]

recording_policy_perturbations: list[Perturbation] = [
    setter(("retentionDays",), st.one_of(st.integers(0, 4000), st.sampled_from([29, 30, 31, 3650, 3651, 30.0, 29.5]))),
    setter(("segmentSeconds",), st.one_of(st.integers(0, 4000), st.sampled_from(["5m", "300", 300.0]))),
    setter(("storage", "headroomPercent"), st.integers(-5, 600)),
    setter(("priority",), st.integers(-1, 1001)),
    setter(("legalHold",), st.sampled_from([{"enabled": True}, {"enabled": "true"}, {"reference": "x"}])),
    setter(
        ("transcodeProfiles",),
        st.lists(st.fixed_dictionaries({"name": st.sampled_from(["low", "masked", "low"])}), max_size=5),
    ),
    setter(
        ("cameraSelector", "matchExpressions"),
        st.lists(
            st.fixed_dictionaries(
                {
                    "key": st.sampled_from(["app", "a/b/c", ""]),
                    "operator": st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist", "Equals"]),
                },
                optional={"values": st.lists(st.sampled_from(["x", "-bad", "y" * 63, "y" * 64]), max_size=2)},
            ),
            max_size=2,
        ),
    ),
    setter(
        ("cameraSelector", "matchLabels"),
        st.dictionaries(label_keys, st.one_of(label_values, st.none(), st.just("not valid")), max_size=2),
    ),
]


def _drop_application_field(draw: st.DrawFn, spec: Json) -> None:
    application = spec.setdefault("application", draw(applications))
    application.pop(draw(st.sampled_from(APPLICATION_FIELDS)), None)


sharing_grant_perturbations: list[Perturbation] = [
    setter(("permissions",), st.lists(st.sampled_from([*PERMISSIONS, "View"]), max_size=5)),
    setter(("shareClass",), st.sampled_from([*SHARE_CLASSES, "Secret"])),
    setter(("emergency",), st.fixed_dictionaries({}, optional={"incidentReference": text(), "description": text()})),
    remover("emergency", "application", "purpose", "period", "permissions"),
    setter(("period",), periods_near(timedelta(hours=72))),
    setter(("period", "end"), sloppy_or_valid_times()),
    _drop_application_field,
    setter(("application", "contact"), st.sampled_from(["", "x" * 128, "x" * 129])),
    setter(("cameras", "selector"), label_selectors),
    setter(("cameras", "names"), st.lists(st.sampled_from(["a", "b", "Bad"]), max_size=3)),
    setter(("cameras", "namespace"), st.sampled_from(["transport", "Transport", "a" * 63, "a" * 64])),
    setter(("purpose",), around(1024)),
]

grant_approval_perturbations: list[Perturbation] = [
    setter(("target", "kind"), st.sampled_from(["SharingGrant", "FootageExport", "Camera"])),
    setter(("target", "namespace"), names),
    setter(("verdict",), st.sampled_from(["Approve", "Deny", "approve"])),
    remover("reason", "documentReference"),
]


def _drop_target_namespace(draw: st.DrawFn, spec: Json) -> None:
    spec.get("target", {}).pop("namespace", None)


def _deny_without_reason(draw: st.DrawFn, spec: Json) -> None:
    """The R11 boundary: a denial must give its reason (an approval may omit it)."""
    spec["verdict"] = draw(st.sampled_from(["Deny", "Approve"]))
    spec.pop("reason", None)


grant_approval_perturbations.append(_drop_target_namespace)
# Most of the other GrantApproval perturbations land on valid objects; this rule boundary keeps the refused
# share of the API-server agreement test well above its floor.
grant_approval_perturbations.append(_deny_without_reason)

junk_month_days = st.one_of(
    st.tuples(st.integers(0, 13), st.integers(0, 32)).map(lambda md: f"{md[0]:02d}-{md[1]:02d}"),
    st.sampled_from(["6-1", "06/01", "0601", "06-01x", "", "02-29", "02-30", "04-31", "12-31"]),
)

access_tier_perturbations: list[Perturbation] = [
    setter(("level",), st.one_of(st.integers(-1, 6), st.sampled_from([2.0, 2.5, "2"]))),
    setter(
        ("subjects",),
        st.lists(
            st.fixed_dictionaries(
                {"department": st.sampled_from(["water", "water", "Water"])},
                optional={
                    "windows": st.lists(
                        st.fixed_dictionaries(
                            {},
                            optional={
                                "recurring": st.fixed_dictionaries({"start": junk_month_days, "end": junk_month_days}),
                                "absolute": periods_near(timedelta(days=1)),
                            },
                        ),
                        max_size=3,
                    )
                },
            ),
            max_size=3,
        ),
    ),
    setter(("description",), around(1024)),
]

footage_export_perturbations: list[Perturbation] = [
    setter(("ranges",), st.lists(periods_near(timedelta(hours=24)), max_size=9)),
    setter(("cameras",), st.lists(st.sampled_from(["a", "b", "c"]), max_size=17)),
    remover("purpose", "caseReference"),
    setter(("maskPrivacy",), st.sampled_from([False, "yes"])),
    setter(("ranges", 0, "start"), sloppy_or_valid_times()),
]

PERTURBATIONS: dict[str, list[Perturbation]] = {
    "Camera": camera_perturbations,
    "RecordingPolicy": recording_policy_perturbations,
    "SharingGrant": sharing_grant_perturbations,
    "GrantApproval": grant_approval_perturbations,
    "AccessTier": access_tier_perturbations,
    "FootageExport": footage_export_perturbations,
}
GENERIC_PERTURBATIONS: list[Perturbation] = [replace_anywhere, delete_anywhere, add_unknown_field]


@st.composite
def perturbed(draw: st.DrawFn, kind: str) -> Json:
    spec = copy.deepcopy(draw(SPECS[kind]))
    specific = PERTURBATIONS[kind]
    for _ in range(draw(st.integers(1, 2))):
        # Rule boundaries three times as often as generic damage, which is almost always invalid.
        perturbation = draw(st.sampled_from([*specific, *specific, *specific, *GENERIC_PERTURBATIONS]))
        # The path may be missing in this object (e.g. ranges[0] after ranges was emptied): then skip it.
        with contextlib.suppress(KeyError, IndexError, TypeError):
            perturbation(draw, spec)
    return envelope(kind, spec)


def candidates(kind: str) -> st.SearchStrategy[Json]:
    """Objects of `kind` that may or may not be valid, about half of each."""
    return st.one_of(valid_objects(kind), perturbed(kind))
