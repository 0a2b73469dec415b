"""The audit trail (R16): one structured JSON record per decision, approval, credential issue, revocation,
export and destruction of recordings: who, when, what, which object, outcome, reason.

Records go to the dedicated logger `camfleet.audit`, one JSON object per line, so a log pipeline can
route them to tamper-evident storage apart from the operator's diagnostic log.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

AUDIT_LOGGER = "camfleet.audit"
_log = logging.getLogger(AUDIT_LOGGER)


def audit(
    action: str, obj: str, outcome: str, reason: str = "", actor: str = "camfleet-operator", **details: Any
) -> dict[str, Any]:
    """Write one audit record and return it. `obj` is `Kind namespace/name`; never pass a secret in `details`."""
    record = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "actor": actor,
        "action": action,
        "object": obj,
        "outcome": outcome,
        "reason": reason,
        **details,
    }
    _log.info(json.dumps(record, sort_keys=True, default=str))
    return record


def configure_audit_log(stream: Any = None) -> None:
    """Audit records as bare JSON lines on their own handler, not mixed into the diagnostic format."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    _log.addHandler(handler)
    _log.setLevel(logging.INFO)
    _log.propagate = False
