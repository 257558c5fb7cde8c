"""Progress bars for long work (tqdm), shown only to a person at a terminal."""

from __future__ import annotations

import sys

# The echo of every open, non-quiet Progress, newest last: where notice() goes.
_open: list = []


def notice(message: str) -> None:
    """Show ``message`` on stderr through the newest open, non-quiet :class:`Progress`
    (the command's display; nothing when there is none, e.g. with ``--quiet`` or in a
    library call). For news from deep inside a run, such as kernels compiling."""
    if _open:
        _open[-1](message)


class Progress:
    """A rows/s bar with the running loss; silent when ``quiet`` or stderr is not a TTY.

    Lines printed while a bar is shown go through :meth:`echo`, which clears the
    bar first and redraws it after: printed plainly, a line would land after the
    bar's text on the same terminal line (``train: 0%|...epoch 1: ...``).
    """

    def __init__(self, total: int | None, desc: str, *, quiet: bool = False):
        self.bar = None
        self._noticed = not quiet
        if self._noticed:
            _open.append(self.echo)
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit=" rows", unit_scale=True,
                            dynamic_ncols=True, leave=False, file=sys.stderr)

    def __call__(self, rows: int, loss: float | None = None) -> None:
        if self.bar is not None:
            self.bar.update(rows)
            if loss is not None:
                self.bar.set_postfix(loss=f"{loss:.5f}", refresh=False)

    def echo(self, message: str) -> None:
        """Print ``message`` on a line of its own on stderr, above the bar."""
        if self.bar is not None:
            self.bar.clear()
            sys.stderr.write(message + "\n")
            sys.stderr.flush()
            self.bar.refresh()
        else:
            sys.stderr.write(message + "\n")
            sys.stderr.flush()

    def reset(self, desc: str | None = None) -> None:
        if self.bar is not None:
            self.bar.reset()
            if desc:
                self.bar.set_description(desc)

    def close(self) -> None:
        if self._noticed:
            self._noticed = False
            _open.remove(self.echo)
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
