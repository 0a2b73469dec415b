"""The shell commands the documentation shows: extracted from every ```sh and ```bash block of docs/ and the
README, and the classification (tests/integration/docs_commands.yaml) that says how each runs here or why not.

A command is one logical line of a block: continuation lines (a trailing backslash) are joined, the shell
comment is cut off (a `#` outside quotes, at the start or after a blank), blank and comment-only lines are
dropped. The classification is keyed by the command text so; a command the docs gain or change is then
unclassified, and the test says which.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CLASSIFICATION = REPO / "tests" / "integration" / "docs_commands.yaml"
SHELL_LANGUAGES = ("sh", "bash")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")


@dataclass(frozen=True)
class DocCommand:
    command: str
    source: str  # "docs/runbooks.md:42"


@dataclass(frozen=True)
class Classification:
    """How one documented command runs here (`run`), or why it cannot (`skip`)."""

    command: str
    skip: str | None = None
    substitutions: dict[str, str] = field(default_factory=dict)
    expect: tuple[str, ...] = ()

    def runnable(self) -> str:
        text = self.command
        for placeholder, value in self.substitutions.items():
            text = text.replace(placeholder, value)
        return text


def documents(root: Path = REPO) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def strip_comment(line: str) -> str:
    """The line without its shell comment: a `#` outside quotes that starts a word."""
    quote = ""
    escaped = False
    for index, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].rstrip()
    return line.rstrip()


def shell_blocks(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line number of the first line, lines) of each ```sh / ```bash block."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        fence, language = opening.group(2), opening.group(3).lower()
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        if language in SHELL_LANGUAGES:
            yield index + 2, lines[index + 1 : end]
        index = end + 1


def commands_of_block(first_line: int, lines: list[str]) -> Iterator[tuple[int, str]]:
    pending, start = "", first_line
    for offset, line in enumerate(lines):
        if not pending:
            start = first_line + offset
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1].strip() + " "
            continue
        command = " ".join((pending + strip_comment(line).strip()).split())
        pending = ""
        if command:
            yield start, command


def documented_commands(root: Path = REPO) -> list[DocCommand]:
    found = []
    for path in documents(root):
        for first_line, lines in shell_blocks(path.read_text()):
            for line, command in commands_of_block(first_line, lines):
                found.append(DocCommand(command, f"{path.relative_to(root)}:{line}"))
    return found


def classifications(path: Path = CLASSIFICATION) -> dict[str, Classification]:
    entries: list[dict[str, Any]] = yaml.safe_load(path.read_text())["commands"]
    by_command: dict[str, Classification] = {}
    for entry in entries:
        command = " ".join(str(entry["command"]).split())
        if command in by_command:
            raise ValueError(f"{path.name}: {command!r} is classified twice")
        if ("skip" in entry) == ("run" in entry):
            raise ValueError(f"{path.name}: {command!r} needs exactly one of run and skip")
        run = entry.get("run") or {}
        by_command[command] = Classification(
            command=command,
            skip=entry.get("skip"),
            substitutions={str(k): str(v) for k, v in (run.get("with") or {}).items()},
            expect=tuple(run.get("expect") or ()),
        )
    return by_command
