"""Live gateway sessions: which grant opened which, and the protocol for ending them (R12).

Denying new connections is not enough: a viewer already watching keeps the stream until the gateway drops it.
A `SessionTerminator` is told of every session the decision endpoint admits (`session_opened`) and ends a
revoked grant's sessions on request (`end_sessions`). `NoGateway` is the terminator when no media gateway is
configured; `terminator.MediaMtxTerminator` ends sessions through MediaMTX's control API.

MediaMTX sends the id of the connection or session in every authentication request; `SessionLedger` keeps the
ids admitted under each grant. It is bounded: once full, the oldest entries go first. It lives in this process's
memory only: a session it does not know (admitted before a restart, by another replica, or forgotten) is not
vouched for, and the terminator ends such readers of a revoked grant's cameras so that they authenticate again
(see `terminator`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

DEFAULT_CAPACITY = 100_000


@dataclass(frozen=True)
class TerminationReport:
    ended: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    """Sessions that could not be ended, or kinds of session that could not be listed, each with the reason."""
    skipped_kinds: tuple[str, ...] = ()
    """Kinds of session the gateway does not serve."""

    @property
    def complete(self) -> bool:
        return not self.failed


class SessionTerminator(Protocol):
    def session_opened(self, session_id: str, grant_id: str) -> None:
        """The decision endpoint admitted `session_id` with a token of grant `grant_id`."""
        ...

    async def end_sessions(
        self, grant_id: str, cameras: Collection[str] = (), closed_at: float | None = None
    ) -> TerminationReport:
        """End every live session of the grant; the door is already closed when this is called. `cameras`: the
        grant's camera refs (`<namespace>/<camera>`), whose readers no live ledger entry vouches for are ended too
        (they re-authenticate at the door; see `terminator`). `closed_at`: when the door closed on the grant
        (time.monotonic()), if known."""
        ...


class NoGateway:
    """No media gateway configured: there are no sessions to end, and denial at the door is all there is."""

    def session_opened(self, session_id: str, grant_id: str) -> None:
        pass

    async def end_sessions(
        self, grant_id: str, cameras: Collection[str] = (), closed_at: float | None = None
    ) -> TerminationReport:
        return TerminationReport()


class SessionLedger:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("a session ledger needs room for at least one session")
        self._capacity = capacity
        self._grant_of: OrderedDict[str, str] = OrderedDict()
        self._sessions_of: dict[str, set[str]] = {}

    def record(self, session_id: str, grant_id: str) -> None:
        self._drop(session_id)
        self._grant_of[session_id] = grant_id
        self._sessions_of.setdefault(grant_id, set()).add(session_id)
        while len(self._grant_of) > self._capacity:
            oldest = next(iter(self._grant_of))
            self._drop(oldest)

    def knows(self, session_id: str) -> bool:
        """Whether this ledger admitted the session (under any grant) and still remembers it."""
        return session_id in self._grant_of

    def sessions_of(self, grant_id: str) -> frozenset[str]:
        return frozenset(self._sessions_of.get(grant_id, ()))

    def forget_grant(self, grant_id: str) -> None:
        for session_id in self._sessions_of.pop(grant_id, set()):
            self._grant_of.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._grant_of)

    def _drop(self, session_id: str) -> None:
        grant_id = self._grant_of.pop(session_id, None)
        if grant_id is None:
            return
        sessions = self._sessions_of.get(grant_id)
        if sessions is not None:
            sessions.discard(session_id)
            if not sessions:
                del self._sessions_of[grant_id]
