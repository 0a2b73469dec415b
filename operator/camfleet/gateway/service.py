"""The gateway as the operator runs it: access state, the gateways allowed to ask, publisher credentials and the
session terminator together, with metrics and audit records around each decision (the HTTP layer only
translates). The reasons of every decision go to the audit trail, never to the caller."""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from datetime import datetime

from camfleet.api.sharing_grant import Permission
from camfleet.gateway.callers import GatewayCallers
from camfleet.gateway.mediamtx import MediaMtxAuthRequest, decide_mediamtx
from camfleet.gateway.metrics import (
    GATEWAY_CALLERS_REFUSED,
    GATEWAY_DECISION_SECONDS,
    GATEWAY_DECISIONS,
    GATEWAY_SESSIONS_ENDED,
)
from camfleet.gateway.publishers import PublisherCredentials
from camfleet.gateway.sessions import NoGateway, SessionTerminator, TerminationReport
from camfleet.gateway.state import AccessState, GatewayDecision
from camfleet.observability.audit import audit

log = logging.getLogger(__name__)


class Gateway:
    def __init__(
        self,
        state: AccessState,
        *,
        publishers: PublisherCredentials | None = None,
        terminator: SessionTerminator | None = None,
        callers: GatewayCallers | None = None,
        audit_decisions: bool = True,
    ) -> None:
        self.state = state
        self.callers = callers if callers is not None else GatewayCallers()
        """Who may ask; empty (the default) refuses every caller."""
        self.publishers = publishers
        self.terminator: SessionTerminator = terminator or NoGateway()
        self._audit_decisions = audit_decisions
        self._closed_at: dict[str, float] = {}  # grant -> when its door closed, until its sessions are ended

    def mediamtx(self, request: MediaMtxAuthRequest, now: datetime, *, caller: str | None = None) -> GatewayDecision:
        started = time.perf_counter()
        decision = decide_mediamtx(request, self.state, self.publishers, now)
        if decision.allowed and decision.grant_id is not None and request.id:
            self.terminator.session_opened(request.id, decision.grant_id)
        self._observe("mediamtx", decision, started, request.action, request.protocol, request.ip, caller)
        return decision

    def decide(
        self,
        camera: str,
        permission: Permission,
        now: datetime,
        *,
        token: str | None = None,
        department: str | None = None,
        profile: str | None = None,
        caller: str | None = None,
    ) -> GatewayDecision:
        """`AccessState.decide_request`, counted, timed and audited."""
        started = time.perf_counter()
        decision = self.state.decide_request(
            camera, permission, now, token=token, department=department, profile=profile
        )
        self._observe("decide", decision, started, str(permission), "", "", caller)
        return decision

    def refuse_caller(
        self, endpoint: str, reason: str, *, caller: str | None = None, ip: str = "", department: str | None = None
    ) -> None:
        """A request refused before any decision (no or a wrong gateway credential, or a department the gateway
        may not speak for): counted, and audited with whoever it was."""
        GATEWAY_CALLERS_REFUSED.labels(endpoint, reason).inc()
        why = {
            "missing": "no gateway credential was presented",
            "invalid": "the gateway credential is not valid",
            "department": f"gateway {caller} may not speak for department {department}",
        }.get(reason, reason)
        audit(
            "GatewayCaller",
            f"Endpoint {endpoint}",
            "denied",
            why,
            actor=f"gateway {caller}" if caller else f"unauthenticated caller {ip or '?'}",
            code=reason,
            department=department,
            ip=ip or None,
        )

    def close(self, grant_id: str) -> None:
        """Refuse the grant's tokens from now on, in memory, at once (the door; no I/O)."""
        self.state.revoke(grant_id)
        self._closed_at.setdefault(grant_id, time.monotonic())

    async def end_sessions(self, grant_id: str, cameras: Collection[str] = ()) -> TerminationReport:
        """End the grant's live sessions at the media gateway (`cameras`: its camera refs, see `terminator`);
        counted, and every session left running logged."""
        try:
            closed_at = self._closed_at.pop(grant_id, None)
            report = await self.terminator.end_sessions(grant_id, cameras, closed_at=closed_at)
        except Exception as error:
            log.exception("grant %s: could not end its live sessions", grant_id)
            report = TerminationReport(failed=(f"the media gateway failed: {error}",))
        GATEWAY_SESSIONS_ENDED.labels("ended").inc(len(report.ended))
        GATEWAY_SESSIONS_ENDED.labels("failed").inc(len(report.failed))
        for failure in report.failed:
            log.warning("grant %s: a live session may still run: %s", grant_id, failure)
        return report

    async def revoke(self, grant_id: str, cameras: Collection[str] = ()) -> TerminationReport:
        """Close the door at once, then end the grant's live sessions at the media gateway."""
        self.close(grant_id)
        return await self.end_sessions(grant_id, cameras)

    def _observe(
        self,
        endpoint: str,
        decision: GatewayDecision,
        started: float,
        action: str,
        protocol: str,
        ip: str,
        caller: str | None = None,
    ) -> None:
        GATEWAY_DECISION_SECONDS.labels(endpoint).observe(time.perf_counter() - started)
        GATEWAY_DECISIONS.labels(endpoint, decision.outcome.value).inc()
        log.debug(
            "%s %s on %s by %s: %s (%s)",
            endpoint,
            action,
            decision.camera,
            decision.department,
            decision.outcome,
            "; ".join(decision.reasons),
        )
        if self._audit_decisions:
            audit(
                "GatewayAccess",
                f"Camera {decision.camera or '?'}",
                "allowed" if decision.allowed else "denied",
                "; ".join(decision.reasons),
                actor=decision.department or "unknown",
                code=decision.outcome.value,
                caller=caller,
                grant=decision.grant,
                tier=decision.tier,
                request=action,
                protocol=protocol or None,
                ip=ip or None,
            )
