"""Checkpoint files: the engine's state (`streamliq.engine.state`) written atomically.

The file is a `.npz` body read without pickle, so a state file can never run code; one of
another format version or other factor parameters is refused with a one-line message.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..engine import BarEngine
from ..engine.config import FactorConfig
from ..engine.features.aggregate import Members
from ..engine.state import dump_state, load_engine


def save_state(path: str | Path, engine: BarEngine, notes: dict[str, Any]) -> None:
    """Write `engine` and JSON-able `notes` to `path` atomically (temp file, fsync, rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(dump_state(engine, notes))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_state(path: str | Path, config: FactorConfig,
               aggregates: Members | None = None) -> tuple[BarEngine, dict[str, Any]] | None:
    """The engine and notes saved at `path`, or None when there is no such file yet.

    `aggregates` is the section 10 membership the engine was made with (see `BarEngine`).
    """
    path = Path(path)
    if not path.exists():
        return None
    return load_engine(path.read_bytes(), config, f"state file '{path}'", aggregates)
