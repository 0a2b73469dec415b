"""AccessTier status: which departments hold the level now, and when that next changes (R14 windows).

One due time per tier in a single queue: the moment its set of active departments changes, e.g. the
first day of the flood season.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from lightkube import AsyncClient

from camfleet.access.city_time import CityCalendar
from camfleet.access.tier_status import tier_status
from camfleet.access.windows import tier_next_transition
from camfleet.active_gate import ActiveGate
from camfleet.api.access_tier import AccessTier
from camfleet.clock import Clock
from camfleet.kube.resources import RESOURCES
from camfleet.kube.status import write_status
from camfleet.scheduling import DueQueue, serve

log = logging.getLogger(__name__)


class TierController:
    def __init__(self, client: AsyncClient, calendar: CityCalendar, clock: Clock) -> None:
        self._client = client
        self._clock = clock
        self._calendar = calendar
        self._tiers: dict[str, dict[str, Any]] = {}
        self._queue: DueQueue[str] = DueQueue(clock)

    def tier_changed(self, body: Mapping[str, Any], deleted: bool) -> None:
        name = body["metadata"]["name"]
        if deleted:
            self._tiers.pop(name, None)
            self._queue.discard(name)
            return
        previous = self._tiers.get(name)
        self._tiers[name] = dict(body)
        if previous is None or previous.get("spec") != body.get("spec"):
            self._queue.schedule_earlier(name, self._clock.monotonic())

    async def run(self, gate: ActiveGate) -> None:
        await serve(self._queue, self._reconcile, self._reconcile_failed, workers=1, gate=gate)

    def _reconcile_failed(self, name: str) -> float:
        log.exception("status of access tier %s failed; retrying in 30s", name)
        return 30.0

    async def _reconcile(self, name: str) -> None:
        body = self._tiers.get(name)
        if body is None:
            return
        tier = AccessTier.model_validate(body)
        now = self._clock.now()
        status = tier_status(tier.status, tier, tier.metadata.generation or 0, now, self._calendar)
        stored = await write_status(self._client, RESOURCES["AccessTier"], body, status)
        if stored is not None:
            self._tiers[name] = stored
        following = tier_next_transition(tier, now, self._calendar)
        if following is not None:
            self._queue.schedule(name, self._clock.monotonic() + max(0.0, (following - now).total_seconds()))
