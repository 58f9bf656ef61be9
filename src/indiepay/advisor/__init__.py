"""The collection-mode advisor: which way a merchant should collect (platform or independent) at its size,
what the choice costs or saves a year, and whether the merchant is ready to switch."""
