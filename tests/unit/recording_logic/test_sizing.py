from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from camfleet.recording.sizing import (
    GIB,
    VolumeAction,
    as_gib_quantity,
    decide_volume,
    parse_quantity,
    required_bytes,
)


def test_thirty_days_of_4_mbps_with_20_percent_headroom() -> None:
    # 4096 kbit/s = 512,000 B/s; x 30 days x 1.2 = 1,592,524,800,000 B = 1483.2 GiB -> 1484Gi.
    assert required_bytes(4096, 30, 20) == 1_592_524_800_000
    assert as_gib_quantity(required_bytes(4096, 30, 20)) == "1484Gi"


def test_quantities_parse_in_binary_and_decimal_units() -> None:
    assert parse_quantity("1484Gi") == 1484 * GIB
    assert parse_quantity("2T") == 2 * 10**12
    assert parse_quantity("1073741824") == GIB


def test_create_keep_grow_and_too_small() -> None:
    need = required_bytes(4096, 30, 20)
    assert decide_volume(need, None, True).action is VolumeAction.CREATE
    assert decide_volume(need, "1484Gi", True).action is VolumeAction.KEEP
    assert decide_volume(need, "2000Gi", False).action is VolumeAction.KEEP
    grown = decide_volume(need, "100Gi", True)
    assert (grown.action, grown.request) == (VolumeAction.GROW, "1484Gi")
    too_small = decide_volume(need, "100Gi", False)
    assert (too_small.action, too_small.request, too_small.required) == (VolumeAction.TOO_SMALL, "100Gi", "1484Gi")
    assert decide_volume(need, "100Gi", True, bound=False).action is VolumeAction.AWAIT_BINDING


@given(
    st.integers(64, 51200),
    st.integers(30, 3650),
    st.integers(0, 500),
    st.integers(1, 100_000),
    st.booleans(),
    st.booleans(),
)
def test_a_volume_never_shrinks_and_always_holds_the_retention_when_it_can(
    bitrate: int, days: int, headroom: int, current_gib: int, expandable: bool, bound: bool
) -> None:
    need = required_bytes(bitrate, days, headroom)
    decision = decide_volume(need, f"{current_gib}Gi", expandable, bound)
    assert parse_quantity(decision.request) >= current_gib * GIB
    if decision.action in (VolumeAction.KEEP, VolumeAction.GROW):
        assert parse_quantity(decision.request) >= need


@given(st.integers(64, 51200), st.integers(30, 3650), st.integers(0, 500))
def test_more_retention_never_needs_less_space(bitrate: int, days: int, headroom: int) -> None:
    assert required_bytes(bitrate, days + 1, headroom) >= required_bytes(bitrate, days, headroom)
