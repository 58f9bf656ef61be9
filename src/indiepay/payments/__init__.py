"""Payments: one per merchant ``out_trade_no``, attempted on exactly one channel account."""
