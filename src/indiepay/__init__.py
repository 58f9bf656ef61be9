"""IndiePay: a self-hosted payment platform for multi-merchant social e-commerce."""

__version__ = "0.1.0"
