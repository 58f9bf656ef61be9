"""The ``indiepay`` command line (typer): serve, worker, sandbox, migrate, demo."""
