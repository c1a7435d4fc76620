"""Errors raised for bad user input (exit status 2 on the command line)."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input: a missing folder, a malformed row, an invalid option.

    The message is one line that names what is wrong and where (file, line, field).
    """


def bad_row_message(path: str, line: int, field: str, value: object, why: str) -> str:
    """The one-line message for a malformed row of a batch input file."""
    return f"{path}:{line}: field '{field}': {why} (got {value!r})"
