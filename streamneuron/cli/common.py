"""What every command shares: errors as one ``Error:`` line, the options declared in
the parameter table (:mod:`streamneuron.params`), and small helpers (column lists,
output checks, JSON).

Every user error surfaces as one line ``Error: ...`` on stderr and exit code 2;
no traceback, no partial output file, an existing model never replaced by a
broken one (models are written atomically, and only after training succeeded).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import warnings

import click

from ..errors import DataError, StreamNeuronError, TrainingInterrupted
from ..params import PARAMS, flag

EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

DATA = click.argument("data", nargs=-1, required=True, metavar="DATA...")


class ModeChoice(click.Choice):
    """``--mode``: ``sgd``, ``auto`` or a name of the full-pass solver registry. The
    registry (which loads the full-pass engine) is read only when another name is
    given, or for ``--help``."""

    def __init__(self):
        super().__init__([])

    @property
    def choices(self):
        return PARAMS["mode"].rule.names()

    @choices.setter
    def choices(self, value):  # click.Choice.__init__ sets it
        pass

    def convert(self, value, param, ctx):
        from ..params import AUTO, SGD

        if value in (*SGD, AUTO):
            return value
        return super().convert(value, param, ctx)


def option(name: str, *decls: str, **overrides):
    """The click option of the table's parameter ``name``: its flag, type, default and
    help, all from :data:`streamneuron.params.PARAMS`."""
    p = PARAMS[name]
    spelling = p.spelling
    kwargs = {"help": p.help + (f" [default: {p.default_text}]." if p.default_text else "")}
    if p.kind == "switch":
        decls = decls or (spelling,)
        kwargs.update(default=p.default, show_default=True)
    elif p.kind == "flag":
        decls = decls or (spelling, name)
        kwargs.update(is_flag=True)
    else:
        decls = decls or (spelling, name)
        kwargs.update(default=p.default, show_default=p.default is not None and not p.default_text,
                      multiple=p.kind == "many", metavar=p.metavar,
                      type=ModeChoice() if name == "mode" else p.rule.click_param_type())
        if p.kind == "many":
            kwargs.pop("default")
    kwargs.update(overrides)
    return click.option(*decls, **kwargs)


def given(ctx: click.Context, names) -> list[str]:
    """The parameters among ``names`` given on the command line (or the environment),
    not left at their defaults."""
    from click.core import ParameterSource

    said = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    return [n for n in names if ctx.get_parameter_source(n) in said]


def split(value: str | None, flag_name: str = "--features") -> list[str] | None:
    if value is None:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise click.BadParameter("names no column", param_hint=flag_name)
    return names


def label_name(label: str | None, y_key: str | None, default: str | None = "y") -> str | None:
    """The label: ``--label`` or ``--y-key`` (its HDF5 name), the same for every format;
    two different names are refused rather than one of them ignored."""
    if label is not None and y_key is not None and label != y_key:
        raise click.BadParameter(f"--label {label} and --y-key {y_key} name two different "
                                 "labels; give one", param_hint="--label")
    return label or y_key or default


def check_writable(path: str, flag_name: str, remote: bool = False) -> None:
    """Fail before hours of training, not after, when an output cannot be written.

    ``remote=True`` (predict's output): an fsspec URL (``s3://...``) is accepted,
    checked cheaply (the bucket exists, the path is not a folder). Otherwise the
    output (model, history, plot) must be a local path: a URL is refused with a
    message saying so, before any work is done.
    """
    if "://" in path:
        from ..readers.paths import check_output_url, output_ref

        if not remote:
            raise click.BadParameter(
                f"{path}: {flag_name} must be a local file path (models, histories and plots "
                "are written locally; copy them to remote storage afterwards)",
                param_hint=flag_name)
        problem = check_output_url(path)
        if problem:
            raise click.BadParameter(problem, param_hint=flag_name)
        ref = output_ref(path)
        if not ref.is_local:
            return
        path = ref.path  # file://: the local checks below
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(folder):
        raise click.BadParameter(f"{path}: the folder {folder} does not exist",
                                 param_hint=flag_name)
    if os.path.isdir(path):
        raise click.BadParameter(f"{path} is a folder, not a file", param_hint=flag_name)
    # Probe by creating a file: os.access says yes to root even where writes fail (/proc).
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".streamneuron-probe-")
    except OSError as exc:
        raise click.BadParameter(f"{path}: cannot write in {folder} ({exc.strerror or exc})",
                                 param_hint=flag_name) from None
    os.close(fd)
    os.unlink(probe)


def emit_json(obj) -> None:
    click.echo(json.dumps(obj, indent=1, default=float))


def one_line(text: str) -> str:
    """Messages from libraries may span lines; ``Error:`` output is one line."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


# The readers' advice names train's flags; reading data for a model (predict, evaluate),
# what the user can do is different: (pattern, replacement) in the order tried.
_FOR_A_MODEL = (
    (r"--categorical names no column ('[^']*')", r"the model's categorical column \1 is not in "
     "the data"),
    (r"--categorical names column ('[^']*'), which is ([^;]*);",
     r"the model's categorical column \1 is \2 here;"),
    (r"; give --missing impute .*", "; the model was trained without --missing impute or "
     "drop, so it cannot score a row with a missing value: fill those values first, or "
     "train with --missing impute (or drop)"),
    (r"; drop those rows first, or give --missing drop", "; drop those rows first (a model "
     "trained with --missing drop skips them)"),
    (r"name the value that counts as 1 with --positive VALUE( \(e\.g\. [^)]*\))?",
     "the model was trained on 0/1 labels (no --positive): evaluate it on a 0/1 or boolean "
     "label column, or train with --positive VALUE"),
)


@contextlib.contextmanager
def reading_for_a_model():
    """A :class:`DataError` raised inside, its advice in the terms of a command that
    applies a model (:data:`_FOR_A_MODEL`): ``predict`` and ``evaluate`` have no
    ``--categorical``, ``--missing`` or ``--positive``; the model file settles them."""
    try:
        yield
    except DataError as exc:
        message = str(exc)
        for pattern, replacement in _FOR_A_MODEL:
            message = re.sub(pattern, replacement, message)
        if message == str(exc):
            raise
        raise DataError(message) from None


def as_flags(exc: StreamNeuronError) -> str:
    """``batch_size must be ...`` (about a library parameter: ``exc.param``) reads
    ``--batch-size must be ...``."""
    if getattr(exc, "param", None) and getattr(exc, "problem", None):
        return f"{flag(exc.param)} {exc.problem}"
    return str(exc)


def run_command(group: click.Group, argv: list[str] | None) -> int:
    """Run ``group`` on ``argv``; map our errors to one ``Error:`` line and exit code 2.

    Exit codes: 0 success; 2 bad usage or bad input (``StreamNeuronError``,
    click usage errors, OS errors on the user's files); 130 stopped by SIGINT or
    SIGTERM (with ``--checkpoint`` the message says how to resume); 1 an
    unexpected internal error (one line too; ``STREAMNEURON_DEBUG=1`` shows the
    traceback).
    """
    def error(message: str, code: int, prefix: str = "Error") -> int:
        click.echo(f"{prefix}: {one_line(message)}", err=True)
        return code

    def warn(message, category, filename, lineno, file=None, line=None):
        # Our warnings are for people: one line, no source location.
        click.echo(f"Warning: {one_line(str(message))}", err=True)

    from ..errors import DataWarning

    try:
        with warnings.catch_warnings():
            warnings.showwarning = warn
            warnings.simplefilter("always", DataWarning)  # every run says it, not the first only
            group.main(args=argv, prog_name="streamneuron", standalone_mode=False)
    except TrainingInterrupted as exc:
        return error(str(exc), EXIT_INTERRUPTED, prefix="Interrupted")
    except StreamNeuronError as exc:
        return error(as_flags(exc), EXIT_BAD_INPUT)
    except click.exceptions.Abort:
        return error("aborted", EXIT_INTERRUPTED)
    except click.ClickException as exc:
        return error(exc.format_message(), EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        return error("interrupted (no output was written)", EXIT_INTERRUPTED)
    except OSError as exc:
        name = f"{exc.filename}: " if exc.filename else ""
        return error(f"{name}{exc.strerror or exc}", EXIT_BAD_INPUT)
    except MemoryError:
        return error("out of memory; try a smaller --batch-size or --shuffle-window, or fewer "
                     "--workers", EXIT_INTERNAL)
    except Exception as exc:  # a bug: still no traceback unless asked for
        if os.environ.get("STREAMNEURON_DEBUG"):
            raise
        return error(f"unexpected {type(exc).__name__}: {exc} (this is a bug in streamneuron; "
                     "run with STREAMNEURON_DEBUG=1 to see the traceback)", EXIT_INTERNAL)
    return 0
