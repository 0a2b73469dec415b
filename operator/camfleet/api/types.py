"""Scalar field types shared by the kinds, each valid exactly where the API server agrees.

Patterns use explicit ASCII classes such as `[0-9]` instead of `\\d` or `\\s`: the API server
runs Go's RE2, where those classes are ASCII, while pydantic's Rust regex makes them Unicode.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Strict, StringConstraints, WithJsonSchema

from camfleet.api.rules import refuse

_DATE = r"[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_CLOCK = r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
_ZONE = r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"

RFC3339_TIME_PATTERN = f"^{_DATE}T{_CLOCK}{_ZONE}$"
"""RFC 3339 time with a zone, as `metav1.Time` writes it; at most microseconds.

The API server's `date-time` format alone would also take a lowercase `t`, nanoseconds and
impossible zone offsets, which Python's datetime cannot represent; the pattern narrows it.
"""
CALENDAR_DATE_PATTERN = f"^{_DATE}$"

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
LABEL_VALUE_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
QUALIFIED_NAME_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
PRINTABLE_ASCII_PATTERN = r"^[!-~]+$"
"""Printable ASCII without spaces: tokens, time zones, preset names."""


def _parse_rfc3339_time(value: Any) -> Any:
    if isinstance(value, datetime):  # YAML loaders turn unquoted times into datetimes
        if value.tzinfo is None:
            raise refuse("must be of type date-time with a time zone, e.g. 2030-01-01T00:00:00Z (RFC 3339)")
        return value
    if not isinstance(value, str) or re.fullmatch(RFC3339_TIME_PATTERN, value) is None:
        raise refuse("must be of type date-time, written as RFC 3339 such as 2030-01-01T00:00:00Z")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise refuse("must be of type date-time: not a real calendar time") from None


def _parse_calendar_date(value: Any) -> Any:
    if type(value) is date:  # YAML loaders turn unquoted dates into dates
        return value
    if not isinstance(value, str) or re.fullmatch(CALENDAR_DATE_PATTERN, value) is None:
        raise refuse("must be of type date, written as RFC 3339 full-date such as 2024-03-01")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise refuse("must be of type date: not a real calendar day") from None


Rfc3339Time = Annotated[
    datetime,
    BeforeValidator(_parse_rfc3339_time),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": RFC3339_TIME_PATTERN}),
]
"""A point in time with its zone, e.g. `2030-01-01T00:00:00Z`."""

CalendarDate = Annotated[
    date,
    BeforeValidator(_parse_calendar_date),
    WithJsonSchema({"type": "string", "format": "date", "pattern": CALENDAR_DATE_PATTERN}),
]
"""A calendar day, e.g. `2024-03-01`."""

DnsLabel = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)]
"""A namespace name or other RFC 1123 label."""

ObjectName = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)]
"""The name of a Kubernetes object (RFC 1123 subdomain)."""

LabelValue = Annotated[str, StringConstraints(strict=True, max_length=63, pattern=LABEL_VALUE_PATTERN)]
QualifiedName = Annotated[
    str, StringConstraints(strict=True, min_length=1, max_length=317, pattern=QUALIFIED_NAME_PATTERN)
]
SecretKey = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=253, pattern=SECRET_KEY_PATTERN)]
Token = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=64, pattern=PRINTABLE_ASCII_PATTERN)]

ShortText = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=128)]
"""A name or reference a person types: a site, a filing reference, an incident number."""
Text = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=1024)]
"""A sentence or short paragraph: a purpose, a reason, a description."""

Flag = Annotated[bool, Strict()]
"""true or false; the strings "true" and "yes" are not booleans."""


Integer = Annotated[int, Strict()]
"""A whole number; "30" is a string, not a number. (300.0 counts as 300, see `CamfleetModel`.)"""


def drop_null_values(value: Any) -> Any:
    # The API server prunes null values out of maps, as it does for object fields.
    if isinstance(value, dict):
        return {key: item for key, item in value.items() if item is not None}
    return value
