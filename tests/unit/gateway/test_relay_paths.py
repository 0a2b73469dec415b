"""Each camera's relay path on MediaMTX: built with the camera's credentials for its own host only, compared
field by field so an unchanged path is never replaced (a replace drops its readers), and owned only when it is
what camfleet would write."""

from __future__ import annotations

from camfleet.gateway.relay_paths import is_ours, relay_path, source_url, up_to_date


def test_the_source_carries_the_credentials_escaped_to_the_cameras_own_host_only() -> None:
    url = source_url("rtsp://10.1.2.3:554/cam/main?x=1", "10.1.2.3", "admin", "p@ss:/word")
    assert url == "rtsp://admin:p%40ss%3A%2Fword@10.1.2.3:554/cam/main?x=1"
    assert source_url("rtsp://evil.example/cam", "10.1.2.3", "admin", "pw") is None, "never to another host"
    assert source_url("http://10.1.2.3/cam", "10.1.2.3", "admin", "pw") is None, "RTSP only"


def test_a_path_is_replaced_only_when_what_camfleet_sets_differs() -> None:
    wanted = relay_path("owner", "street", "rtsp://a:b@10.1.2.3/cam")
    assert wanted.name == "owner/street"
    assert wanted.config["sourceOnDemand"] is True
    assert wanted.config["record"] is False
    served = {**wanted.config, "maxReaders": 0, "name": "owner/street"}
    assert up_to_date(served, wanted)
    assert not up_to_date({**served, "source": "rtsp://a:new@10.1.2.3/cam"}, wanted)
    assert "b@" not in repr(wanted), "the config (a device password) is never shown"


def test_only_a_relay_of_the_cameras_own_host_is_ours() -> None:
    assert is_ours({"source": "rtsp://a:b@10.1.2.3/cam"}, "10.1.2.3")
    assert not is_ours({"source": "publisher"}, "10.1.2.3")
    assert not is_ours({"source": "rtsp://10.9.9.9/cam"}, "10.1.2.3")
