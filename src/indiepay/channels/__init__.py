"""Payment channels: one sub-package per channel behind the port in :mod:`indiepay.channels.base`."""
