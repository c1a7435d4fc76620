"""Research tools over factor files: forward-return labels and a factor report.

Offline only: labels look into the future by design, so nothing here is imported by the
engine, the live daemon or `replay`.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .forward import labels
    from .report import build_report

__all__ = ["build_report", "labels"]
_LAZY = {"labels": "forward", "build_report": "report"}


def __getattr__(name: str):
    """Load on first use: the command line imports this package for every subcommand."""
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'streamliq.research' has no attribute {name!r}")
