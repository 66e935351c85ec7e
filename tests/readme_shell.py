"""Run a README's shell blocks for real: fenced blocks → commands → real processes, in order.

`shell_commands` reads the fenced ``sh`` blocks of a Markdown file into simple commands (argv
lists; `\\` continuations and quotes spanning lines joined, comments dropped, `&&` and `;` split),
each named by a key: `onemap imagery add` (resolved through the real click command tree), `curl`,
`make demo`, `export ONEMAP_DATABASE_URL`. `Shell` runs them one after another the way a reader
would type them: `onemap` is the project's own CLI, `curl` the real binary (its status and answer
kept), `onemap serve` stays up in the background until `Shell.stop`, `export` sets the
environment of what follows; placeholders (`om_…`, http://127.0.0.1:8000) are replaced by the
real values as they become known.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import click
import httpx

from api.cli.main import main as onemap_cli
from spatial.config import PROJECT_ROOT

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}
SEQUENCE = {"&&", ";"}
"""Operators run as a sequence; any other (`|`, `||`, `&`, redirections) is refused by the parser."""
ONEMAP = Path(sys.executable).with_name("onemap")


@dataclass(frozen=True)
class Block:
    """A fenced code block: its language, text and the line of its first text line."""

    language: str
    text: str
    line: int


@dataclass(frozen=True)
class Command:
    """One simple command of a shell block, where it is written and what it is."""

    where: str
    argv: tuple[str, ...]
    key: str

    def __str__(self) -> str:
        return f"{self.where}: {shlex.join(self.argv)}"


@dataclass
class Outcome:
    """What running a command gave: exit status, output, the HTTP status it got (curl, serve)."""

    command: Command
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    http_status: int | None = None
    stopped_with: int | None = None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def fenced_blocks(text: str) -> list[Block]:
    """Every fenced code block of a Markdown text, in order."""
    return [
        Block(m.group(1), m.group(2), text.count("\n", 0, m.start(2)) + 1) for m in FENCE.finditer(text)
    ]


def onemap_command(words: list[str]) -> tuple[list[str], click.Command]:
    """The CLI's (sub)command the words name, and its path (`onemap imagery add`)."""
    command: click.Command = onemap_cli
    path = ["onemap"]
    for word in words:
        if not isinstance(command, click.Group) or word not in command.commands:
            break
        command = command.commands[word]
        path.append(word)
    return path, command


def command_key(argv: list[str]) -> str:
    """What a command is: the onemap subcommand, `make TARGET`, `export NAME` or the program."""
    program = Path(argv[0]).name
    if program == "onemap":
        return " ".join(onemap_command(argv[1:])[0])
    if program == "make":
        return " ".join(["make", *[a for a in argv[1:] if "=" not in a and not a.startswith("-")][:1]])
    if program == "export":
        return f"export {argv[1].split('=')[0]}"
    return program


def _split_line(logical: str) -> list[list[str]]:
    """The simple commands of one logical shell line (comments dropped, `&&`/`;` split)."""
    lexer = shlex.shlex(logical, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in SEQUENCE:
            commands.append([])
        elif token and set(token) <= set(lexer.punctuation_chars):
            raise ValueError(f"the README runner does not do `{token}`: {logical.strip()}")
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def shell_commands(path: Path) -> list[Command]:
    """The simple commands of every shell block of a Markdown file, in order."""
    found: list[Command] = []
    for block in fenced_blocks(path.read_text(encoding="utf-8")):
        if block.language not in SHELL_LANGUAGES:
            continue
        pending, first = "", 0
        for number, line in enumerate(block.text.splitlines(), start=block.line):
            pending, first = pending + line + "\n", first or number
            try:
                shlex.split(pending.replace("\\\n", " "), comments=True)
            except ValueError:  # a quote is still open: the command goes on
                continue
            if line.endswith("\\"):
                continue
            for argv in _split_line(pending.replace("\\\n", " ")):
                found.append(Command(f"{path.name}:{first}", tuple(argv), command_key(argv)))
            pending, first = "", 0
    return found


@dataclass
class Shell:
    """Runs README commands in order in ``cwd`` with ``env``; keeps one `onemap serve` alive."""

    env: dict[str, str]
    cwd: Path
    base_url: str
    database_url: str
    placeholders: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, Callable[[Path], None]] = field(default_factory=dict)
    captures: dict[str, tuple[str, str]] = field(default_factory=dict)
    server: subprocess.Popen[bytes] | None = None
    server_outcome: Outcome | None = None

    def argv(self, command: Command) -> list[str]:
        """The command as it is run: placeholders replaced, `onemap` being the project's CLI."""
        argv = list(command.argv)
        for index, arg in enumerate(argv):
            for placeholder, value in self.placeholders.items():
                arg = arg.replace(placeholder, value)
            argv[index] = arg
        if Path(argv[0]).name == "onemap":
            argv[0] = str(PROJECT_ROOT / argv[0]) if "/" in argv[0] else str(ONEMAP)
        return argv

    def run(self, command: Command) -> Outcome:
        """Run one command and say what happened."""
        for arg in command.argv:
            if arg in self.inputs and not (self.cwd / arg).exists():
                self.inputs[arg](self.cwd / arg)
        argv = self.argv(command)
        if command.key.startswith("export "):
            outcome = self._export(command, argv)
        elif command.key == "onemap serve":
            outcome = self._serve(command, argv)
        elif command.key == "curl":
            outcome = self._curl(command, argv)
        else:
            done = subprocess.run(argv, env=self.env, cwd=self.cwd, capture_output=True, text=True, timeout=300)
            outcome = Outcome(command, done.returncode, done.stdout, done.stderr)
        if command.key in self.captures:
            pattern, placeholder = self.captures[command.key]
            found = re.search(pattern, outcome.stdout)
            if found:
                self.placeholders[placeholder] = found.group(0)
        return outcome

    def _export(self, command: Command, argv: list[str]) -> Outcome:
        """`export NAME=VALUE`: ONEMAP_DATABASE_URL becomes the test's own database."""
        name, _, value = argv[1].partition("=")
        self.env[name] = self.database_url if name == "ONEMAP_DATABASE_URL" else value
        return Outcome(command, 0)

    def _curl(self, command: Command, argv: list[str]) -> Outcome:
        """The real curl, its answer's headers and body kept, its HTTP status read with -w."""
        body, headers = self.cwd / "curl-body", self.cwd / "curl-headers"
        full = [argv[0], "-sS", "-o", str(body), "-D", str(headers), "-w", "%{http_code}", *argv[1:]]
        done = subprocess.run(full, env=self.env, cwd=self.cwd, capture_output=True, text=True, timeout=120)
        status = int(done.stdout) if done.stdout.strip().isdigit() else None
        answer = headers.read_text(errors="replace") + body.read_text(errors="replace") if body.exists() else ""
        return Outcome(command, done.returncode, answer, done.stderr, http_status=status)

    def _serve(self, command: Command, argv: list[str]) -> Outcome:
        """`onemap serve` in the background: up when /health answers (or it has exited)."""
        log = (self.cwd / "serve.log").open("wb")
        self.server = subprocess.Popen(argv, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)  # fmt: skip
        outcome = self.server_outcome = Outcome(command)
        deadline = time.monotonic() + 120
        while outcome.http_status is None and self.server.poll() is None and time.monotonic() < deadline:
            try:
                outcome.http_status = httpx.get(f"{self.base_url}/health", timeout=10).status_code
            except httpx.TransportError:
                time.sleep(0.2)
        outcome.returncode = self.server.poll()
        outcome.stdout = (self.cwd / "serve.log").read_text(errors="replace")
        return outcome

    def stop(self) -> None:
        """Stop the server this shell started (SIGTERM, as a service manager would)."""
        if self.server is None or self.server_outcome is None:
            return
        if self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server_outcome.stopped_with = self.server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.server.pid, signal.SIGKILL)
                self.server.wait()
        self.server_outcome.stdout = (self.cwd / "serve.log").read_text(errors="replace")
