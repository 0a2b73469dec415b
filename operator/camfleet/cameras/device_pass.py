"""One pass over a device: connect, authenticate, configure, read back. The only camera I/O with ONVIF.

A pass always ends with a `DeviceObservation`: a device error is a typed failure, and anything else
raised inside the pass (a bug, a reply shape nobody foresaw) is caught here as an INTERNAL failure,
so one camera can never stop the controller or leave its status stale. Facts learned before the pass
stopped (clock, auth mode, device information) are kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from camfleet.cameras.observation import DeviceFailure, DeviceObservation, FailureKind
from camfleet.cameras.pass_schedule import lean_drift
from camfleet.onvif import (
    AuthFailed,
    CallTimeout,
    DesiredDeviceSettings,
    DeviceError,
    NotSupported,
    OnvifClient,
    ProtocolError,
    Unreachable,
    UntrustedAddress,
    apply_settings,
)
from camfleet.onvif.errors import RequestNotBuilt
from camfleet.onvif.lean import LeanUnusable, lean_read
from camfleet.onvif.models import LeanPlan
from camfleet.onvif.trust import AddressPolicy

log = logging.getLogger(__name__)

# What a device said it does not support is asked again after this long (or at once after a firmware change).
REPROBE_SECONDS = 6 * 3600.0
Unsupported = dict[tuple[str, str], NotSupported]
# Keys the credential fingerprints of lean plans, so what stays in memory cannot be matched to a password offline.
_FINGERPRINT_KEY = secrets.token_bytes(32)


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:  # never let a password reach a log line through repr()
        return f"Credentials(username={self.username!r}, password=***)"

    def fingerprint(self) -> bytes:
        """Tells a credential change apart without keeping the password next to what was learned with it."""
        material = self.username.encode() + b"\0" + self.password.encode()
        return hmac.new(_FINGERPRINT_KEY, material, hashlib.sha256).digest()


@dataclass
class _Learned:
    firmware: str | None
    since: float
    unsupported: Unsupported = field(default_factory=dict)


class DeviceMemory:
    """What passes learned about each device (by endpoint) that the next pass should not ask again.

    - operations the device does not support: answered from here until `reprobe_seconds` have passed
      or the firmware version changes, so an unsupported GetNTP is not sent on every pass;
    - the last internal error or unusable reply, so it is logged (an exception with its traceback) once per
      transition;
    - the lean plan of the last healthy full pass (addresses, tokens, auth mode), under the fingerprint of the
      credentials it was learned with: dropped when a pass fails and unused once the credentials change.
    """

    def __init__(self, reprobe_seconds: float = REPROBE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._reprobe_seconds = reprobe_seconds
        self._clock = clock
        self._learned: dict[str, _Learned] = {}
        self._internal: dict[str, str] = {}
        self._plans: dict[str, tuple[bytes, LeanPlan]] = {}
        self._pruned_at = clock()

    def lean_plan(self, endpoint: str, credentials: Credentials) -> LeanPlan | None:
        kept = self._plans.get(endpoint)
        if kept is None or not hmac.compare_digest(kept[0], credentials.fingerprint()):
            return None
        return kept[1]

    def keep_plan(self, endpoint: str, credentials: Credentials, plan: LeanPlan | None) -> None:
        if plan is None:
            self._plans.pop(endpoint, None)
        else:
            self._plans[endpoint] = (credentials.fingerprint(), plan)

    def drop_plan(self, endpoint: str) -> None:
        self._plans.pop(endpoint, None)

    def known_unsupported(self, endpoint: str) -> Unsupported:
        entry = self._learned.get(endpoint)
        if entry is None or self._clock() - entry.since >= self._reprobe_seconds:
            self._learned.pop(endpoint, None)
            return {}
        return dict(entry.unsupported)

    def firmware_changed(self, endpoint: str, firmware: str) -> bool:
        entry = self._learned.get(endpoint)
        return entry is not None and entry.firmware is not None and entry.firmware != firmware

    def learn(self, endpoint: str, firmware: str | None, unsupported: Unsupported) -> None:
        entry = self._learned.get(endpoint)
        if entry is None or (firmware is not None and entry.firmware not in (None, firmware)):
            entry = self._learned[endpoint] = _Learned(firmware, self._clock())
        entry.firmware = firmware or entry.firmware
        entry.unsupported.update(unsupported)
        self._prune()

    def forget(self, endpoint: str) -> None:
        self._learned.pop(endpoint, None)
        self._internal.pop(endpoint, None)
        self._plans.pop(endpoint, None)

    def failure_is_new(self, endpoint: str, signature: str | None) -> bool:
        """Record the pass's loggable failure (None: none); True when it differs from the previous pass's.

        Internal errors and unusable replies are logged once per transition, not on every retry.
        """
        previous = self._internal.pop(endpoint, None)
        if signature is not None:
            self._internal[endpoint] = signature
        return signature is not None and signature != previous

    def _prune(self) -> None:
        now = self._clock()
        if now - self._pruned_at < self._reprobe_seconds:
            return
        self._pruned_at = now
        expired = [key for key, entry in self._learned.items() if now - entry.since >= self._reprobe_seconds]
        for key in expired:
            del self._learned[key]


def _failure(error: DeviceError) -> DeviceFailure:
    if isinstance(error, UntrustedAddress):
        kind = FailureKind.UNTRUSTED_ADDRESS
    elif isinstance(error, RequestNotBuilt):
        kind = FailureKind.INTERNAL
    elif isinstance(error, Unreachable):
        kind = FailureKind.UNREACHABLE
    elif isinstance(error, CallTimeout):
        kind = FailureKind.TIMEOUT
    elif isinstance(error, AuthFailed):
        kind = FailureKind.AUTH
    else:
        kind = FailureKind.PROTOCOL
    fault = error.fault_code if isinstance(error, AuthFailed | ProtocolError) else None
    return DeviceFailure(kind, str(error), operation=error.operation or None, fault_code=fault)


def internal_failure(error: BaseException, operation: str | None = None) -> DeviceFailure:
    """An exception nobody foresaw: named by type only (its text could carry anything, secrets included)."""
    where = f" during {operation}" if operation else ""
    return DeviceFailure(
        FailureKind.INTERNAL, f"internal error ({type(error).__name__}){where}; see the operator log", operation
    )


class _Pass:
    """The observation as it grows, so whatever was learned survives a failure later in the pass."""

    def __init__(self) -> None:
        self.observation = DeviceObservation()
        self.firmware: str | None = None
        self.step = "GetSystemDateAndTime"

    def note(self, **fields: Any) -> None:
        self.observation = replace(self.observation, **fields)


async def _steps(
    client: OnvifClient, desired: DesiredDeviceSettings, progress: _Pass, endpoint: str, memory: DeviceMemory | None
) -> None:
    # The unauthenticated clock read comes first: WS-UsernameToken is signed with the device's time.
    progress.note(reached=True, clock=await client.read_clock())
    progress.step = "GetDeviceInformation"
    device = await client.authenticate()
    progress.firmware = device.firmware_version
    progress.note(authenticated=True, auth_mode=str(client.auth_mode), device=device)
    if memory is not None and memory.firmware_changed(endpoint, device.firmware_version):
        client.forget_unsupported()  # new firmware may do what the old one could not
    progress.step = "GetServices"
    await client.capabilities()
    progress.step = "configure"
    progress.note(report=await apply_settings(client, desired))
    # Read the clock again: applying NTP may just have corrected it.
    progress.step = "GetSystemDateAndTime"
    progress.note(clock=await client.read_clock())
    progress.step = "GetStreamUri"
    progress.note(streams=await client.stream_uris())


def _is_unusable_reply(failure: DeviceFailure) -> bool:
    return failure.kind is FailureKind.PROTOCOL and failure.fault_code is None


async def run_device_pass(
    endpoint: str,
    credentials: Credentials,
    desired: DesiredDeviceSettings,
    limit: asyncio.Semaphore,
    call_timeout_seconds: float,
    memory: DeviceMemory | None = None,
    policy: AddressPolicy | None = None,
) -> DeviceObservation:
    """Everything camfleet does to a device in one reconcile, under the operator-wide concurrency limit.

    `policy` says where the device may send camfleet (advertised XAddrs, stream URIs): by default only the
    endpoint's own host; an address elsewhere ends the pass with an UNTRUSTED_ADDRESS failure naming it."""
    progress = _Pass()
    known = memory.known_unsupported(endpoint) if memory is not None else None
    signature: str | None = None
    try:
        async with (
            limit,
            OnvifClient(
                endpoint,
                credentials.username,
                credentials.password,
                timeout=call_timeout_seconds,
                known_unsupported=known,
                policy=policy,
            ) as client,
        ):
            try:
                await _steps(client, desired, progress, endpoint, memory)
            finally:
                if memory is not None:
                    memory.learn(endpoint, progress.firmware, client.unsupported)
            if memory is not None:
                memory.keep_plan(endpoint, credentials, client.lean_plan())
    except DeviceError as error:
        failure = _failure(error)
        progress.note(failure=failure)
        if _is_unusable_reply(failure):
            # zeep's own complaint about the value is silenced (see camfleet.cli); this is the one line about it.
            signature = f"unusable@{failure.operation}: {failure.message}"
            if memory is None or memory.failure_is_new(endpoint, signature):
                log.warning("device %s sent a reply camfleet cannot use: %s", endpoint, failure.message)
    except Exception as error:  # the pass boundary: nothing a device sends may escape as an exception
        signature = f"{type(error).__name__}@{progress.step}"
        progress.note(failure=internal_failure(error, progress.step))
        if memory is None or memory.failure_is_new(endpoint, signature):
            log.exception("device pass for %s failed unexpectedly during %s", endpoint, progress.step)
        else:
            log.debug("device pass for %s failed unexpectedly again (%s)", endpoint, signature)
    if signature is None and memory is not None:
        memory.failure_is_new(endpoint, None)
    if memory is not None and not progress.observation.healthy:
        memory.drop_plan(endpoint)
    return progress.observation


async def run_lean_pass(
    endpoint: str,
    credentials: Credentials,
    desired: DesiredDeviceSettings,
    previous: DeviceObservation,
    limit: asyncio.Semaphore,
    call_timeout_seconds: float,
    memory: DeviceMemory,
    max_drift_seconds: float,
    policy: AddressPolicy | None = None,
    restored: LeanPlan | None = None,
) -> DeviceObservation | None:
    """Re-verify a healthy device in at most a few calls (camfleet.onvif.lean); None when a full pass must run now:
    no plan for these credentials, the device did not answer as the last full pass left it, or something drifted.

    `restored`: the plan to start from when memory has none (after a restart, from the status); the pass then
    also asks where the services are and the main encoder's token, and keeps what it learned for the next.

    The observation is the previous one with the fresh clock and settings, which a full pass finding nothing to
    change would also give: same conditions, and no status write when nothing changed."""
    plan = memory.lean_plan(endpoint, credentials) or restored
    if plan is None or previous.report is None:
        return None
    gaps = previous.report.gaps
    try:
        async with limit:
            reading = await lean_read(
                plan, credentials.username, credentials.password, desired, gaps, call_timeout_seconds, policy
            )
    except LeanUnusable as why:
        log.debug("lean pass for %s gave way to a full pass: %s", endpoint, why)
        memory.drop_plan(endpoint)
        return None
    except Exception as error:  # the pass boundary, as in run_device_pass: the full pass will tell what is wrong
        log.debug("lean pass for %s failed (%s); full pass follows", endpoint, type(error).__name__)
        memory.drop_plan(endpoint)
        return None
    drift = lean_drift(desired, reading.observed, reading.clock, gaps, max_drift_seconds)
    if drift is not None:
        log.info("device %s: %s; full pass follows", endpoint, drift)
        return None
    if reading.plan != plan:
        memory.keep_plan(endpoint, credentials, reading.plan)
    report = replace(previous.report, observed=reading.observed, changed=())
    return replace(previous, clock=reading.clock, report=report)
