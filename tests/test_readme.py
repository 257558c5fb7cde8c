"""Every README example runs as written, in order, from the repository root (issue 21).

The commands are read from README.md's fenced code blocks: every line (with its
``\\`` continuations joined, and each part of an ``&&`` chain) that starts with
``streamneuron`` or ``python scripts/``. They run in that order through bash, in a
temporary copy of the repository's ``data/`` and ``scripts/`` (the README's own
``python scripts/make_example_data.py`` writes the other files they name), with
``streamneuron`` and ``python`` being this interpreter and this checkout: a
``streamneuron`` command's words are those bash makes of it (quotes, globs), handed to the
command's own :func:`streamneuron.cli.main` in this process (the same code the
``streamneuron`` script runs; a fresh interpreter per command would cost seconds of start-up
each, and ``tests/test_startup.py`` covers the cold start). Left out:
``pip install`` and ``python -m pytest`` (the set-up lines, whose other commands do
run), and commands naming a URL (``s3://``, ``tcp://``: a bucket and a scheduler).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from streamneuron.cli import main

ROOT = Path(__file__).resolve().parent.parent
RUN = ("streamneuron ", "python scripts/")


def readme_commands(text: str) -> list[str]:
    """The commands of the README's code blocks, in order (see the module docstring)."""
    commands = []
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M):
        lines = block.replace("\\\n", " ").splitlines()
        for line in lines:
            for part in line.split("&&"):
                part = re.sub(r"\s+#.*$", "", part).strip()
                if part.startswith(RUN) and "://" not in part:
                    commands.append(" ".join(part.split()))
    return commands


def test_the_readme_commands_are_found():
    commands = readme_commands((ROOT / "README.md").read_text())
    assert commands[0].startswith("streamneuron generate demo.parquet")  # the set-up line
    assert "python scripts/make_example_data.py" in commands
    assert not any("://" in c or c.startswith("pip") for c in commands)
    assert len(commands) > 30
    # The set-up's `pip install -e ".[test]"` has its extra.
    assert re.search(r"^test\s*=", (ROOT / "pyproject.toml").read_text(), flags=re.M)


@pytest.mark.slow
def test_every_readme_example_runs_as_written(tmp_path, monkeypatch, capsys):
    commands = readme_commands((ROOT / "README.md").read_text())
    work = tmp_path / "repo"
    work.mkdir()
    for folder in ("data", "scripts"):
        shutil.copytree(ROOT / folder, work / folder)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, target in (("streamneuron", f'"{sys.executable}" -m streamneuron'),
                         ("python", f'"{sys.executable}"')):
        shim = bin_dir / name
        shim.write_text(f'#!/bin/sh\nexec {target} "$@"\n')
        shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                       os.environ.get("PYTHONPATH")]))}
    monkeypatch.chdir(work)
    for command in commands:
        if command.startswith("streamneuron "):
            # bash's words for it, then the CLI in this process
            words = subprocess.run(["bash", "-c", "printf '%s\\0' " + command[len("streamneuron "):]],
                                   env=env, capture_output=True, text=True, check=True).stdout
            capsys.readouterr()
            code = main(words.split("\0")[:-1])
            assert code == 0, f"{command}\n{capsys.readouterr().err[-3000:]}"
            continue
        done = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True,
                              text=True, timeout=900)
        assert done.returncode == 0, f"{command}\n{done.stderr[-3000:]}"
