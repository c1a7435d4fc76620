"""The engine's one error type: bad input or an invalid option, with a one-line message."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input: a missing folder, a malformed row, an invalid option.

    The message is one line that names what is wrong and where (file, line, field). The
    command line prints it and exits with status 2.
    """
