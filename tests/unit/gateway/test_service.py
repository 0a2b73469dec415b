"""The gateway service: revocation closes the door first, then ends live sessions; metrics count decisions."""

from __future__ import annotations

from collections.abc import Collection

from prometheus_client import REGISTRY

from camfleet.api.sharing_grant import Permission
from camfleet.gateway import Gateway, MediaMtxAuthRequest, Outcome, TerminationReport
from tests.unit.access.builders import ME, NOW, OWNER
from tests.unit.gateway.builders import UID, VIEW_STREET, state, token_for

STREET = f"{OWNER}/street"


class RecordingTerminator:
    def __init__(self, gateway: list[Gateway]) -> None:
        self.opened: dict[str, set[str]] = {}
        self.calls: list[tuple[str, frozenset[str], bool]] = []
        self._gateway = gateway

    def session_opened(self, session_id: str, grant_id: str) -> None:
        self.opened.setdefault(grant_id, set()).add(session_id)

    async def end_sessions(self, grant_id: str, cameras: Collection[str] = (), **_: object) -> TerminationReport:
        door_closed = self._gateway[0].state.is_revoked(grant_id)
        sessions = self.opened.pop(grant_id, set())
        self.calls.append((grant_id, frozenset(sessions), door_closed))
        return TerminationReport(ended=tuple(sorted(sessions)))


def read(session_id: str) -> MediaMtxAuthRequest:
    return MediaMtxAuthRequest(action="read", path=STREET, password=token_for(VIEW_STREET), id=session_id)


def count(endpoint: str, outcome: str) -> float:
    return (
        REGISTRY.get_sample_value("camfleet_gateway_decisions_total", {"endpoint": endpoint, "outcome": outcome}) or 0
    )


async def test_revoking_closes_the_door_then_ends_the_sessions_the_grant_opened() -> None:
    holder: list[Gateway] = []
    terminator = RecordingTerminator(holder)
    gateway = Gateway(state(), terminator=terminator)
    holder.append(gateway)
    assert gateway.mediamtx(read("session-1"), NOW).allowed
    assert gateway.mediamtx(read("session-2"), NOW).allowed

    report = await gateway.revoke(UID["view-street"])

    assert terminator.calls == [(UID["view-street"], frozenset({"session-1", "session-2"}), True)]
    assert report.ended == ("session-1", "session-2")
    assert gateway.mediamtx(read("session-3"), NOW).outcome == Outcome.REVOKED
    assert terminator.opened == {}


def test_denied_requests_are_not_recorded_as_sessions() -> None:
    terminator = RecordingTerminator([])
    gateway = Gateway(state(), terminator=terminator)
    gateway.mediamtx(MediaMtxAuthRequest(action="read", path=STREET, id="s-denied"), NOW)
    gateway.mediamtx(MediaMtxAuthRequest(action="read", path=STREET, password=token_for(VIEW_STREET)), NOW)  # no id

    assert terminator.opened == {}


def test_decisions_are_counted_and_timed() -> None:
    gateway = Gateway(state(), audit_decisions=False)
    before = count("mediamtx", "allowed")
    timed = REGISTRY.get_sample_value("camfleet_gateway_decision_seconds_count", {"endpoint": "mediamtx"}) or 0

    gateway.mediamtx(read("s"), NOW)

    assert count("mediamtx", "allowed") == before + 1
    assert REGISTRY.get_sample_value("camfleet_gateway_decision_seconds_count", {"endpoint": "mediamtx"}) == timed + 1


def test_the_generic_decision_takes_a_token_or_a_department() -> None:
    gateway = Gateway(state())
    token = token_for(VIEW_STREET)

    assert gateway.decide(STREET, Permission.LIVE_VIEW, NOW, token=token).allowed
    assert gateway.decide(STREET, Permission.LIVE_VIEW, NOW, token=token, department=ME).allowed
    mismatch = gateway.decide(STREET, Permission.LIVE_VIEW, NOW, token=token, department="water-authority")
    assert mismatch.outcome == Outcome.NOT_IN_TOKEN
    assert gateway.decide(STREET, Permission.EXPORT, NOW, department=OWNER).allowed
    assert gateway.decide(STREET, Permission.LIVE_VIEW, NOW).outcome == Outcome.NO_CREDENTIALS
