"""Research tools over factor files: forward-return labels and a factor report.

Offline only: labels look into the future by design, so nothing here is imported by the
engine, the live daemon or `replay`.
"""

from .forward import labels
from .report import build_report

__all__ = ["build_report", "labels"]
