"""Pages people look at: the hosted checkout (buyer) — Jinja2 templates calling services only."""
