"""Monthly merchant statements, CSV/XLSX exports and the accountant's tax summary."""
