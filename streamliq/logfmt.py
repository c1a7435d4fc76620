"""Structured log lines for the daemon: `ts=... level=... logger=... event=... key=value`."""

from __future__ import annotations

import logging
import time


class LogfmtFormatter(logging.Formatter):
    """One logfmt line per record. Messages written as `event=... k=v` pass through as they are;
    any other message becomes a quoted `msg="..."` field."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        message = record.getMessage()
        if not message.startswith("event="):
            message = 'msg="' + message.replace("\\", "\\\\").replace('"', '\\"') + '"'
        line = f"ts={stamp}.{int(record.msecs):03d}Z level={record.levelname} logger={record.name} {message}"
        if record.exc_info:
            line += " exc=" + repr(self.formatException(record.exc_info))
        return line


def use_logfmt(level: str) -> None:
    """Route every log record to stderr as logfmt at `level`."""
    handler = logging.StreamHandler()
    handler.setFormatter(LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
