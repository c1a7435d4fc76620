"""Errors raised for bad user input (exit status 2 on the command line)."""

from __future__ import annotations

from .engine.errors import InputError

__all__ = ["InputError", "bad_row_message"]


def bad_row_message(path: str, line: int, field: str, value: object, why: str) -> str:
    """The one-line message for a malformed row of a batch input file."""
    return f"{path}:{line}: field '{field}': {why} (got {value!r})"
