"""How every command reports a refused request: one line on stderr, ``error (code): message``, with the same
stable code the API would answer with, so a script can match it — then the command's exit code (1: the
request was refused; 2: an option was bad)."""

from __future__ import annotations

import typer

from indiepay.core.errors import IndiePayError


def refused(exc: IndiePayError, *, exit_code: int = 1) -> typer.Exit:
    """Print ``exc`` as the commands' error line; returns the exit to raise (``raise refused(exc) from exc``)."""
    typer.echo(f"error ({exc.code}): {exc.message}", err=True)
    return typer.Exit(code=exit_code)
