"""The incident ledger (R12): every emergency period admitted for an incident, kept after its grant is deleted. Pure.

An incident gets at most 72 hours of emergency access across all its grants. Counting only the grants that exist
would let a department delete a spent grant and ask again for the same hours: the hours an incident was given
stay given. The admission check records each admitted emergency grant's period here, keyed by the grant's uid,
and judges a new request against the ledger and the live grants together (the union of their periods, so a
period counted twice is counted once).

The ledger is one ConfigMap in the operator's namespace (`LEDGER_NAME`), where departments have no access; one
data key per incident (a hash of the reference: keys allow few characters), holding JSON:
`{"incident": "<reference>", "grants": {"<uid>": {"grant": "<ns>/<name>", "start": "...", "end": "..."}}}`.
A period that ended more than `KEEP_AFTER_END` ago is dropped when its incident is next written: an incident
reference reused a year later is a new incident.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from camfleet.api.common import Period

LEDGER_NAME = "camfleet-incident-ledger"
KEEP_AFTER_END = timedelta(days=90)


def ledger_key(incident: str) -> str:
    """The ConfigMap data key of an incident (keys may hold only letters, digits, '-', '_' and '.')."""
    return "incident-" + hashlib.sha256(incident.encode()).hexdigest()[:40]


def _entry(data: Mapping[str, str], incident: str) -> dict[str, Any]:
    raw = data.get(ledger_key(incident))
    try:
        entry = json.loads(raw) if raw else {}
    except ValueError:
        entry = {}
    if not isinstance(entry, dict) or entry.get("incident") != incident or not isinstance(entry.get("grants"), dict):
        return {"incident": incident, "grants": {}}
    return entry


def recorded_periods(data: Mapping[str, str], incident: str) -> list[Period]:
    """The periods recorded for `incident` (an unreadable record counts as none: the live grants still count)."""
    periods = []
    for record in _entry(data, incident)["grants"].values():
        try:
            periods.append(Period.model_validate({"start": record["start"], "end": record["end"]}))
        except (KeyError, TypeError, ValueError):
            continue
    return periods


def with_grant(
    data: Mapping[str, str], incident: str, uid: str, grant: str, period: Period, now: datetime
) -> dict[str, str]:
    """The ledger's data with `grant`'s period recorded for `incident`, and the incident's long-ended periods gone."""
    entry = _entry(data, incident)
    kept = {key: record for key, record in entry["grants"].items() if not _ended_long_ago(record, now)}
    kept[uid] = {"grant": grant, "start": period.start.isoformat(), "end": period.end.isoformat()}
    return {**data, ledger_key(incident): json.dumps({"incident": incident, "grants": kept}, sort_keys=True)}


def _ended_long_ago(record: Any, now: datetime) -> bool:
    try:
        end = Period.model_validate({"start": record["start"], "end": record["end"]}).end
    except (KeyError, TypeError, ValueError):
        return True
    return end + KEEP_AFTER_END < now
