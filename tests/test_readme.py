"""The README is a script: every shell and Python block runs as written, in order, in an
empty folder (`make test-all`; GLASSNET_MAX_EPOCHS=1 keeps the trainings short). A line
that starts a server (`glassnet serve`, `glassnet lab`: "in another terminal") runs in the
background until its block ends. The default suite checks the cheap half: every glassnet
command line parses and every Python block compiles."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from glassnet.cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"
SKIP = re.compile(r"<!--\s*readme-test:\s*skip\s*\((.*)\)\s*-->")
SERVER = re.compile(r"^glassnet (serve|lab)\b")


@dataclass
class Block:
    lang: str
    code: str
    line: int  # where it starts in README.md
    skip: str | None  # why it is not run


def readme_blocks() -> list[Block]:
    lines = README.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        stripped = lines[i].lstrip()
        if stripped.startswith("```") and stripped[3:].strip():
            indent = len(lines[i]) - len(stripped)
            lang, start = stripped[3:].strip(), i + 1
            before = next((x for x in reversed(lines[:i]) if x.strip()), "")
            skip = SKIP.search(before)
            i += 1
            body = []
            while not lines[i].lstrip().startswith("```"):
                body.append(lines[i][indent:])
                i += 1
            blocks.append(Block(lang, "\n".join(body) + "\n", start, skip and skip.group(1)))
        i += 1
    return blocks


def _commands(code: str) -> list[str]:
    """Shell commands: continuation lines joined, and lines inside an open quote kept with
    the line that opened it (a JSON body over several lines)."""
    commands: list[str] = []
    pending = ""
    for line in code.replace("\\\n", " ").splitlines():
        pending = f"{pending}\n{line}" if pending else line
        try:
            shlex.split(pending, comments=True)
        except ValueError:  # an open quote: the command goes on
            continue
        if pending.strip():
            commands.append(pending)
        pending = ""
    assert not pending, f"unclosed quote in: {pending}"
    return commands


def test_every_glassnet_line_parses_and_python_compiles() -> None:
    blocks = readme_blocks()
    assert sum(b.lang == "bash" for b in blocks) >= 15 and sum(b.lang == "python" for b in blocks)
    for block in blocks:
        if block.lang == "python":
            compile(block.code, f"README.md:{block.line}", "exec")
        if block.lang != "bash" or block.skip:
            continue
        for command in _commands(block.code):
            words = shlex.split(command, comments=True)
            if not words or words[0] != "glassnet":
                continue
            argv = words[1:]
            try:
                build_parser(argv).parse_args(argv)
            except SystemExit as e:
                pytest.fail(f"README.md:{block.line}: `{command.strip()}` does not parse ({e})")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def shell_script(code: str, port: int) -> str:
    """The block as bash: servers in the background (waited for, stopped at the end),
    port 8000 moved to a free one, curl failing on HTTP errors."""
    out = [
        "set -euo pipefail",
        "trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true' EXIT",
    ]
    for command in _commands(code.replace("8000", str(port))):
        words = command.strip()
        if SERVER.match(words):
            line = shlex.split(words, comments=True)
            if "--port" not in line:
                line += ["--port", str(port)]
            out.append(f"{shlex.join(line)} > server-{port}.log 2>&1 &")
            out.append(
                f"for _ in $(seq 1 240); do curl -s -o /dev/null localhost:{port}/ && break; "
                f"sleep 0.5; done; curl -s -o /dev/null localhost:{port}/ || "
                f"{{ cat server-{port}.log; exit 1; }}"
            )
        elif words.startswith("curl "):
            out.append("curl --fail-with-body -sS " + words[5:] + "; echo")
        else:
            out.append(command)
    return "\n".join(out) + "\n"


@pytest.mark.slow
def test_readme_runs_top_to_bottom(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GLASSNET_MAX_EPOCHS": "1",
        "GLASSNET_CACHE": str(tmp_path / "cache"),
        "PYTHONUNBUFFERED": "1",
    }
    work = tmp_path / "work"
    work.mkdir()
    for number, block in enumerate(readme_blocks()):
        if block.skip or block.lang not in ("bash", "python", "yaml"):
            continue
        if block.lang == "yaml":  # a file the next lines use, named in its first line
            name = block.code.splitlines()[0].lstrip("# ").strip()
            (work / name).write_text(block.code, encoding="utf-8")
            continue
        if block.lang == "python":
            script = work / f"readme_block_{number}.py"
            script.write_text(block.code, encoding="utf-8")
            argv = [sys.executable, script.name]
        else:
            argv = ["bash", "-c", shell_script(block.code, _free_port())]
        done = subprocess.run(
            argv, cwd=work, env=env, capture_output=True, text=True, timeout=900, check=False
        )
        assert done.returncode == 0, (
            f"README.md:{block.line} ({block.lang}) failed with {done.returncode}:\n"
            f"{block.code}\n--- stdout ---\n{done.stdout[-3000:]}\n--- stderr ---\n"
            f"{done.stderr[-5000:]}"
        )
