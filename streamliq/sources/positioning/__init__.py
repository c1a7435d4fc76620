"""Binance positioning statistics (FACTORS.md section 7): REST dumps and data.binance.vision
`metrics` files as MetricBatch streams, and REST rows as single events for live pollers."""

from .rest import metric_event_from_rest

__all__ = ["metric_event_from_rest"]
