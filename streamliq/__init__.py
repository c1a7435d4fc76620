"""streamliq: crypto-derivatives liquidation streams into trading factors.

One sans-I/O engine (`BarEngine`) with three drivers: Tardis file replay (`replay`), the
pandas batch API (`LiquidationFactorEngine`) and the live daemon (`streamliq run`). Closed rows
reach a bot through `Feed`/`stream` in-process, or the server and sinks of `streamliq.sinks`.
"""

from typing import TYPE_CHECKING

from .engine import BarEngine
from .engine.config import FactorConfig
from .errors import InputError

__version__ = "0.1.0"
if TYPE_CHECKING:
    from .batch import LiquidationFactorEngine, read_metrics, replay
    from .feed import Feed, RowSource, stream
    from .replay_source import ReplaySource
    from .research import labels

_LAZY = {"LiquidationFactorEngine": "batch", "read_metrics": "batch", "replay": "batch", "Feed": "feed",
         "RowSource": "feed", "stream": "feed", "ReplaySource": "replay_source", "labels": "research"}


def __getattr__(name: str):
    """The pandas API and the feed load on first use, so the command line starts fast."""
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'streamliq' has no attribute {name!r}")


__all__ = ["BarEngine", "FactorConfig", "Feed", "InputError", "LiquidationFactorEngine", "ReplaySource", "RowSource",
           "__version__", "labels", "read_metrics", "replay", "stream"]
