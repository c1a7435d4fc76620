"""Report defaults, apart from the report itself so that the command line loads without pandas."""

TOP_FACTORS = 6
MIN_ROWS = 100  # rows with fewer aligned rows are listed after the ranked ones, never among the top
