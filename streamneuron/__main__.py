"""``python -m streamneuron``: the same as the ``streamneuron`` command."""

from .cli import entry

entry()
