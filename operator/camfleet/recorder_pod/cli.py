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

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self._secrets)


def _configure_logging(config: RecorderConfig | None, level: str) -> None:
    configure_logging([config.password.get_secret_value()] if config and config.password else [], level)


def configure_logging(secrets: Iterable[str], level: str) -> None:
    """Every record of the process (the recorder's, the transcoder's, ffmpeg's relayed lines) is redacted."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


async def _run(config: RecorderConfig | GroupConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if isinstance(config, GroupConfig):
        await GroupRecorder(config).run(stop)
    else:
        await Recorder(config).run(stop)


def _load(argv: list[str]) -> tuple[RecorderConfig | GroupConfig, str]:
    """A group recorder when CAMFLEET_GROUP_CAMERAS is set; today's single-camera recorder otherwise."""
    if is_group(os.environ):
        group, level = load_group(argv, os.environ)
        configure_logging(group.secrets, level)  # every member's password is redacted from every line
        return group, level
    config, level = load(argv, os.environ)
    _configure_logging(config, level)
    return config, level


def main(argv: list[str]) -> int:
    try:
        config, _ = _load(argv)
    except ConfigError as error:
        _configure_logging(None, "INFO")
        logging.getLogger("camfleet.recorder").error("configuration: %s", error)
        return EXIT_CONFIG
    try:
        asyncio.run(_run(config))
    except VolumeLocked as error:
        logging.getLogger("camfleet.recorder").error("%s", error)
        return EXIT_LOCKED
    except OSError as error:  # the volume or the metrics port is unusable; the pod restarts us
        logging.getLogger("camfleet.recorder").error("cannot record: %s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
