"""Profit sharing (分账): receivers, sharing orders and returns through the merchant's own channel account."""
