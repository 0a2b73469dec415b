"""`camfleet recorder [flags]`: the process inside each recorder pod (see config.py for flags and variables)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Iterable

from camfleet.recorder_pod.config import ConfigError, GroupConfig, RecorderConfig, is_group, load, load_group
from camfleet.recorder_pod.group import GroupRecorder
from camfleet.recorder_pod.redact import redact
from camfleet.recorder_pod.storage import VolumeLocked
from camfleet.recorder_pod.supervisor import Recorder

EXIT_CONFIG = 2
EXIT_LOCKED = 3


class RedactingFormatter(logging.Formatter):
    """Last line of defence: whatever a log record or traceback contains, the password never reaches the log."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._secrets = [secret for secret in secrets if secret]

    def add(self, secrets: Iterable[str]) -> None:
        """More secrets to redact (a group member's password read while running); none is ever forgotten."""
        self._secrets += [secret for secret in secrets if secret and secret not in self._secrets]

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self._secrets)


def _configure_logging(config: RecorderConfig | None, level: str) -> None:
    configure_logging([config.password.get_secret_value()] if config and config.password else [], level)


def configure_logging(secrets: Iterable[str], level: str) -> RedactingFormatter:
    """Every record of the process (the recorder's, the transcoder's, ffmpeg's relayed lines) is redacted."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = RedactingFormatter(secrets)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    return formatter


async def _run(config: RecorderConfig | GroupConfig, formatter: RedactingFormatter) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if isinstance(config, GroupConfig):
        # Members read while running: each one's password is redacted from every line before it records.
        await GroupRecorder(config, secrets_seen=formatter.add).run(stop)
    else:
        await Recorder(config).run(stop)


def _load(argv: list[str]) -> tuple[RecorderConfig | GroupConfig, RedactingFormatter]:
    """A group recorder when CAMFLEET_GROUP_CONFIG_DIR is set; today's single-camera recorder otherwise."""
    if is_group(os.environ):
        group, level = load_group(argv, os.environ)
        return group, configure_logging(group.secrets, level)
    config, level = load(argv, os.environ)
    return config, configure_logging([config.password.get_secret_value()] if config.password else [], level)


def main(argv: list[str]) -> int:
    try:
        config, formatter = _load(argv)
    except ConfigError as error:
        _configure_logging(None, "INFO")
        logging.getLogger("camfleet.recorder").error("configuration: %s", error)
        return EXIT_CONFIG
    try:
        asyncio.run(_run(config, formatter))
    except VolumeLocked as error:
        logging.getLogger("camfleet.recorder").error("%s", error)
        return EXIT_LOCKED
    except OSError as error:  # the volume or the metrics port is unusable; the pod restarts us
        logging.getLogger("camfleet.recorder").error("cannot record: %s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
