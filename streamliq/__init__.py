"""streamliq: crypto-derivatives liquidation streams into trading factors.

One sans-I/O engine (`BarEngine`) with three drivers: Tardis file replay (`replay`), the
pandas batch API (`LiquidationFactorEngine`) and, later, the live daemon.
"""

from .batch import LiquidationFactorEngine, replay
from .config import FactorConfig
from .engine import BarEngine
from .errors import InputError

__version__ = "0.1.0"
__all__ = ["BarEngine", "FactorConfig", "InputError", "LiquidationFactorEngine", "__version__", "replay"]
