"""Checkpoints: the engine's whole state (open bars, rolling windows, size-bucket lookbacks,
the last bar closed per key, outages) plus a driver's own notes, written atomically.

The state is pickled: it holds numpy arrays and river's RollingQuantile, which pickle
faithfully, so a restored engine continues bit for bit. A state file is a local, trusted file
of the daemon that wrote it (never load one from elsewhere). It records the factor parameters,
and loading it with different ones is refused rather than silently mixing two configurations.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

from .config import FactorConfig
from .core import BarEngine
from .errors import InputError

FORMAT = "streamliq-state/1"


def save_state(path: str | Path, engine: BarEngine, notes: dict[str, Any]) -> None:
    """Write `engine` and `notes` to `path` atomically (temp file, fsync, rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    payload = {"format": FORMAT, "config": engine.config, "engine": engine, "notes": notes}
    with open(tmp, "wb") as f:
        pickle.dump(payload, f, protocol=pickle.HIGHEST_PROTOCOL)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_state(path: str | Path, config: FactorConfig) -> tuple[BarEngine, dict[str, Any]] | None:
    """The engine and notes saved at `path`, or None when there is no such file yet."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        with open(path, "rb") as f:
            payload = pickle.load(f)
    except Exception as exc:
        raise InputError(f"state file '{path}' cannot be read ({type(exc).__name__}: {exc}); "
                         "move it away to start from scratch") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError(f"state file '{path}' is not a {FORMAT} checkpoint")
    if payload["config"] != config:
        raise InputError(f"state file '{path}' was written with other factor parameters "
                         f"({payload['config']}); run with the same parameters or a new --state file")
    return payload["engine"], payload["notes"]
