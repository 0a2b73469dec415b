"""Objects shared by several kinds: references, label selectors, periods and video profiles."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BeforeValidator, Field

from camfleet.api.base import CamfleetModel
from camfleet.api.rules import CelRule, ListSet
from camfleet.api.types import DnsLabel, Integer, LabelValue, ObjectName, QualifiedName, Rfc3339Time, drop_null_values


class LocalObjectReference(CamfleetModel):
    """A reference to an object in the same namespace."""

    name: ObjectName
    """Name of the referenced object."""


class SelectorOperator(StrEnum):
    """How a label selector requirement compares a label with its values."""

    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


_VALUES_NEED_OPERATOR = CelRule(
    rule="self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0"
    " : !has(self.values) || size(self.values) == 0",
    message="operators In and NotIn need values; Exists and DoesNotExist take none (label selector)",
    check=lambda requirement: (
        (len(requirement.values) > 0) == (requirement.operator in (SelectorOperator.IN, SelectorOperator.NOT_IN))
    ),
    field_path=".values",
)


class LabelSelectorRequirement(CamfleetModel):
    """One label condition: the label `key` compared with `values` by `operator`."""

    key: QualifiedName
    """The label key the requirement applies to."""
    operator: SelectorOperator
    """In, NotIn, Exists or DoesNotExist."""
    values: Annotated[list[LabelValue], Field(max_length=32), ListSet()] = Field(default_factory=list)
    """Label values for In and NotIn; empty for Exists and DoesNotExist."""

    cel_rules = (_VALUES_NEED_OPERATOR,)


class LabelSelector(CamfleetModel):
    """Selects objects by labels; all conditions must hold. An empty selector selects everything."""

    match_labels: Annotated[dict[str, LabelValue], BeforeValidator(drop_null_values), Field(max_length=32)] = Field(
        default_factory=dict
    )
    """Labels an object must carry with exactly these values."""
    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list, max_length=16)
    """Further label conditions, all of which must hold."""


class Period(CamfleetModel):
    """A span of time from `start` (inclusive) to `end` (exclusive)."""

    start: Rfc3339Time
    """When the period starts, RFC 3339 with a time zone, e.g. 2030-06-01T00:00:00+08:00."""
    end: Rfc3339Time
    """When the period ends, RFC 3339 with a time zone; must be after `start`."""

    cel_rules = (
        CelRule(
            rule="self.start < self.end",
            message="a period must start before it ends",
            check=lambda period: period.start < period.end,
            field_path=".end",
        ),
    )


class CameraSelection(CamfleetModel):
    """Cameras of one department (namespace), chosen by name or by label selector."""

    namespace: DnsLabel
    """The department (namespace) that owns the cameras."""
    names: Annotated[list[ObjectName], Field(min_length=1, max_length=64), ListSet()] | None = None
    """Camera names in that namespace. Set either `names` or `selector`."""
    selector: LabelSelector | None = None
    """Label selector over the cameras in that namespace; `{}` selects all of them."""

    cel_rules = (
        CelRule(
            rule="has(self.names) != has(self.selector)",
            message="choose cameras either by names or by selector: set exactly one of them",
            check=lambda selection: (selection.names is None) != (selection.selector is None),
        ),
    )


class VideoEncoding(StrEnum):
    """Video codec."""

    H264 = "H264"
    H265 = "H265"
    JPEG = "JPEG"


class Resolution(CamfleetModel):
    """Picture size in pixels."""

    width: Integer = Field(ge=160, le=7680)
    """Width in pixels."""
    height: Integer = Field(ge=120, le=4320)
    """Height in pixels."""


class VideoProfile(CamfleetModel):
    """A video encoder profile: codec, picture size, frame rate and bitrate."""

    encoding: VideoEncoding = VideoEncoding.H264
    """Video codec: H264, H265 or JPEG."""
    resolution: Resolution = Resolution(width=1920, height=1080)
    """Picture size; 1920x1080 when not set."""
    fps: Integer = Field(default=25, ge=1, le=60)
    """Frames per second."""
    bitrate_kbps: Integer = Field(default=4096, ge=64, le=51200)
    """Target bitrate in kilobits per second; the recording volume is sized from it."""
    gop: Integer = Field(default=50, ge=1, le=600)
    """Group of pictures: frames from one key frame to the next."""
