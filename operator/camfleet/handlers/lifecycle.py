"""Start-up: readiness once kopf runs its startup activities."""

from __future__ import annotations

from typing import Any

import kopf

from camfleet.operator_context import OperatorContext


@kopf.on.startup()
async def mark_started(memo: OperatorContext, **_: Any) -> None:
    memo.health.kopf_started = True
