"""Desired-versus-observed comparison: what decides whether camfleet sends a Set at all."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from camfleet.onvif.diff import compare, encoder_problem, features_to_change, masks_match, outstanding
from camfleet.onvif.models import (
    CapabilityGap,
    DesiredDeviceSettings,
    EncoderOptions,
    EncoderSettings,
    Feature,
    NumericRange,
    ObservedDeviceSettings,
    PrivacyMask,
    PtzPosition,
    TimeSettings,
)

ENCODER = EncoderSettings("H264", 1920, 1080, 25, 4096, 50)
TRIANGLE = PrivacyMask(((-0.5, -0.5), (0.5, -0.5), (0.5, 0.5)))
SQUARE = PrivacyMask(((0.1, 0.1), (0.2, 0.1), (0.2, 0.2), (0.1, 0.2)))


def ntp_time(servers: tuple[str, ...], tz: str = "UTC0", from_dhcp: bool = False) -> TimeSettings:
    return TimeSettings(time_source="NTP", timezone=tz, ntp_from_dhcp=from_dhcp, ntp_servers=servers)


def test_matching_device_needs_no_change() -> None:
    desired = DesiredDeviceSettings(
        ntp_servers=("pool.ntp.org",),
        timezone="UTC0",
        encoder=ENCODER,
        privacy_masks=(TRIANGLE,),
        ptz_home=PtzPosition(0.1, 0.2, 0.3),
    )
    observed = ObservedDeviceSettings(
        time=ntp_time(("pool.ntp.org",)),
        encoder=ENCODER,
        privacy_masks=(TRIANGLE,),
        ptz_home=PtzPosition(0.1, 0.2, 0.3),
    )
    assert compare(desired, observed) == []


def test_each_encoder_field_that_differs_is_reported() -> None:
    observed = ObservedDeviceSettings(encoder=EncoderSettings("JPEG", 1280, 720, 25, 4096, 1))
    differences = compare(DesiredDeviceSettings(encoder=ENCODER), observed)
    assert {(d.feature, d.field) for d in differences} == {
        (Feature.ENCODER, "encoding"),
        (Feature.ENCODER, "width"),
        (Feature.ENCODER, "height"),
        (Feature.ENCODER, "gop"),
    }
    assert "want 1920" in str(next(d for d in differences if d.field == "width"))


def test_encoding_names_compare_case_insensitively() -> None:
    observed = ObservedDeviceSettings(encoder=EncoderSettings("h264", 1920, 1080, 25, 4096, 50))
    assert compare(DesiredDeviceSettings(encoder=ENCODER), observed) == []


def test_ntp_from_dhcp_manual_time_and_other_servers_all_count() -> None:
    desired = DesiredDeviceSettings(ntp_servers=("10.0.0.1",))
    observed = ObservedDeviceSettings(
        time=TimeSettings("Manual", "UTC0", ntp_from_dhcp=True, ntp_servers=("192.168.1.1",))
    )
    fields = {d.field for d in compare(desired, observed)}
    assert fields == {"fromDHCP", "servers", "timeSource"}


def test_unmanaged_features_are_ignored() -> None:
    observed = ObservedDeviceSettings(time=TimeSettings("Manual", "XYZ"), encoder=ENCODER)
    assert compare(DesiredDeviceSettings(), observed) == []


def test_empty_mask_list_means_remove_all_masks() -> None:
    desired = DesiredDeviceSettings(privacy_masks=())
    assert [d.feature for d in compare(desired, ObservedDeviceSettings(privacy_masks=(TRIANGLE,)))] == [
        Feature.PRIVACY_MASKS
    ]
    assert compare(desired, ObservedDeviceSettings(privacy_masks=())) == []


def test_masks_match_in_any_order_and_within_device_rounding() -> None:
    rounded = PrivacyMask(((-0.501, -0.499), (0.5, -0.5), (0.5, 0.504)))
    assert masks_match((TRIANGLE, SQUARE), (SQUARE, rounded))
    assert not masks_match((TRIANGLE,), (PrivacyMask(((-0.5, -0.5), (0.5, -0.5), (0.5, 0.6))),))
    assert not masks_match((TRIANGLE,), (TRIANGLE, SQUARE))


def test_ptz_home_within_tolerance_is_in_sync() -> None:
    desired = DesiredDeviceSettings(ptz_home=PtzPosition(0.25, -0.1, 0.5))
    assert compare(desired, ObservedDeviceSettings(ptz_home=PtzPosition(0.251, -0.1, 0.5))) == []
    assert compare(desired, ObservedDeviceSettings(ptz_home=PtzPosition(0.3, -0.1, 0.5)))
    assert compare(desired, ObservedDeviceSettings(ptz_home=None))


def test_features_with_a_gap_are_neither_set_nor_reported_as_not_applied() -> None:
    desired = DesiredDeviceSettings(ntp_servers=("pool.ntp.org",), encoder=ENCODER)
    observed = ObservedDeviceSettings(time=None, encoder=EncoderSettings("H264", 1280, 720, 25, 4096, 50))
    differences = compare(desired, observed)
    gaps = [CapabilityGap(Feature.NTP, "no NTP")]
    assert features_to_change(differences, gaps) == (Feature.ENCODER,)
    assert {d.feature for d in outstanding(differences, gaps)} == {Feature.ENCODER}


OPTIONS = EncoderOptions(
    encodings=frozenset({"H264", "JPEG"}),
    resolutions=frozenset({(1920, 1080), (1280, 720)}),
    fps=NumericRange(1, 30),
    gop=NumericRange(1, 300),
    bitrate_kbps=NumericRange(64, 8192),
)


def test_encoder_within_options_is_accepted() -> None:
    assert encoder_problem(ENCODER, OPTIONS) is None


def test_encoder_outside_options_explains_why() -> None:
    assert "H265" in (encoder_problem(EncoderSettings("H265", 1920, 1080, 25, 4096, 50), OPTIONS) or "")
    assert "3840x2160" in (encoder_problem(EncoderSettings("H264", 3840, 2160, 25, 4096, 50), OPTIONS) or "")
    assert "fps 60" in (encoder_problem(EncoderSettings("H264", 1920, 1080, 60, 4096, 50), OPTIONS) or "")
    assert "bitrate 9000" in (encoder_problem(EncoderSettings("H264", 1920, 1080, 25, 9000, 50), OPTIONS) or "")


encoders = st.builds(
    EncoderSettings,
    encoding=st.sampled_from(["H264", "JPEG", "MPEG4"]),
    width=st.integers(1, 8000),
    height=st.integers(1, 8000),
    fps=st.integers(1, 120),
    bitrate_kbps=st.integers(1, 100_000),
    gop=st.integers(1, 1000),
)
points = st.tuples(st.floats(-1, 1), st.floats(-1, 1))
masks = st.builds(PrivacyMask, st.lists(points, min_size=3, max_size=8).map(tuple))


@given(
    servers=st.lists(st.from_regex(r"[a-z]{1,10}\.example", fullmatch=True), max_size=3).map(tuple),
    tz=st.sampled_from(["UTC0", "CET-1CEST,M3.5.0,M10.5.0/3"]),
    encoder=encoders,
    mask_list=st.lists(masks, max_size=4).map(tuple),
)
def test_a_device_that_reports_exactly_the_desired_state_has_no_differences(
    servers: tuple[str, ...], tz: str, encoder: EncoderSettings, mask_list: tuple[PrivacyMask, ...]
) -> None:
    desired = DesiredDeviceSettings(ntp_servers=servers, timezone=tz, encoder=encoder, privacy_masks=mask_list)
    observed = ObservedDeviceSettings(time=ntp_time(servers, tz), encoder=encoder, privacy_masks=mask_list[::-1])
    assert compare(desired, observed) == []


@given(encoder=encoders, other=encoders)
def test_differences_are_empty_exactly_when_encoders_are_equal(
    encoder: EncoderSettings, other: EncoderSettings
) -> None:
    differences = compare(DesiredDeviceSettings(encoder=encoder), ObservedDeviceSettings(encoder=other))
    assert (differences == []) == (encoder == other)
