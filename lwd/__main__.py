"""``python -m lwd`` is the ``lwd`` command."""

from lwd.cli import app

app(prog_name="lwd")
