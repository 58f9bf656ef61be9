"""Run an ASGI app on a real loopback port in a background thread (tests talk real HTTP to it)."""

from indiepay.cli.localserver import free_port, serve_in_thread

__all__ = ["free_port", "serve_in_thread"]
