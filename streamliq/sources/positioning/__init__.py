"""Binance positioning statistics (FACTORS.md section 7): REST dumps and data.binance.vision
`metrics` files as MetricBatch streams, and REST rows as single events for live pollers."""
