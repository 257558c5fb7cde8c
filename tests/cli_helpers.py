"""The command line run in this process, and the shape every refusal must have."""

from __future__ import annotations

from pathlib import Path

from streamneuron.cli import main


def run(capsys, *argv):
    """``(exit code, stdout, stderr)`` of ``streamneuron ARGV...``."""
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def turned_away(capsys, argv, expected, output=None) -> str:
    """Exit 2, one ``Error:`` line holding every ``expected`` text, no traceback,
    no output file; returns that line."""
    code, _, err = run(capsys, *argv)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    assert "Traceback" not in err
    for text in expected:
        assert text in lines[0], f"{text!r} not in {lines[0]!r}"
    if output is not None:
        assert not Path(output).exists()
    return lines[0]
