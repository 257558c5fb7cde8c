"""The ``streamneuron`` command: a thin click layer over the library.

One module per command (:mod:`.train`, :mod:`.predict`, :mod:`.evaluate`,
:mod:`.inspect`, :mod:`.generate`, :mod:`.convert`, :mod:`.summary`); :mod:`.common` holds what they
share: the options declared by the parameter table, and every error as one
``Error:`` line with exit code 2. A command is registered below, one line each.
"""

from __future__ import annotations

import os
import sys

# The command's own process: Arrow's buffers from the C library's allocator (pyarrow's
# "system" pool) rather than mimalloc, unless the variable is set. Read once, when
# pyarrow loads (below). mimalloc keeps ~25 MB more per decoding thread than its
# buffers need, and a full pass decodes on every pass thread: newton's peak at 10M
# rows 505 -> 427 MiB, at the same speed (README, "Memory"). The library never sets it.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

import click  # noqa: E402

from .. import __version__
from .common import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED, run_command
from .convert import convert
from .evaluate import evaluate
from .generate import generate
from .inspect import inspect
from .predict import predict
from .summary import summary
from .train import train


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="streamneuron")
def cli():
    """Train a single sigmoid neuron (logistic regression) on Parquet or HDF5 files
    larger than memory.

    \b
    Example:
      streamneuron generate demo.parquet --rows 1000000 --features 16
      streamneuron train demo.parquet --label y -o model.json
      streamneuron evaluate model.json demo.parquet --label y

    Shell completion (bash): eval "$(_STREAMNEURON_COMPLETE=bash_source streamneuron)"
    (zsh: zsh_source, fish: fish_source).
    """


# The commands, one line each.
cli.add_command(train)
cli.add_command(predict)
cli.add_command(evaluate)
cli.add_command(inspect)
cli.add_command(generate)
cli.add_command(convert)
cli.add_command(summary)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI on ``argv``; errors become one ``Error:`` line (exit 2), see
    :func:`.common.run_command`."""
    return run_command(cli, argv)


def entry() -> None:
    sys.exit(main())


__all__ = ["cli", "main", "entry", "train", "predict", "evaluate", "inspect", "generate",
           "convert", "EXIT_BAD_INPUT", "EXIT_INTERNAL", "EXIT_INTERRUPTED"]
