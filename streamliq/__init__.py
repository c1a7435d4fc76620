"""streamliq: crypto-derivatives liquidation streams into trading factors.

One sans-I/O engine (`BarEngine`) with three drivers: Tardis file replay (`replay`), the
pandas batch API (`LiquidationFactorEngine`) and, later, the live daemon.
"""

from typing import TYPE_CHECKING

from .config import FactorConfig
from .engine import BarEngine
from .errors import InputError

__version__ = "0.1.0"
if TYPE_CHECKING:
    from .batch import LiquidationFactorEngine, read_metrics, replay


def __getattr__(name: str):
    """The pandas API loads pandas on first use, so the command line starts fast."""
    if name in ("LiquidationFactorEngine", "read_metrics", "replay"):
        from . import batch

        return getattr(batch, name)
    raise AttributeError(f"module 'streamliq' has no attribute {name!r}")


__all__ = ["BarEngine", "FactorConfig", "InputError", "LiquidationFactorEngine", "__version__", "read_metrics",
           "replay"]
