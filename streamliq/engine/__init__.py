"""The sans-I/O engine: normalized event batches and a watermark in, closed factor rows out.

It imports nothing of streamliq outside this package (a test checks every module), so every
driver (replay, live, the pandas API, the partitioned replay) runs exactly the same code.
"""

from .config import FactorConfig
from .core import NO_WATERMARK, BarEngine
from .errors import InputError

__all__ = ["NO_WATERMARK", "BarEngine", "FactorConfig", "InputError"]
