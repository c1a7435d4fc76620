"""Event sources: Tardis CSV files (and, later, live exchange feeds)."""
