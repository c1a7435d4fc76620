"""The engine's state as plain data: a JSON header and named numpy arrays, in one `.npz` body.

Everything a restarted engine needs (open-bar events, late counts, carried values, rolling
windows, size-bucket lookbacks, outages, instruments) is arrays and plain values, so a
checkpoint can never run code: it is read with `allow_pickle=False`, and a body that is not
this format (a pickle, another version, other factor parameters) is refused with a one-line
reason. Writing the bytes to a file is the driver's job (`streamliq.live.checkpoint`).
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import numpy as np

from .config import FactorConfig
from .core import BarEngine
from .errors import InputError
from .features.aggregate import Members
from .features.market import MarketCarry
from .gaps import Outage

FORMAT = "streamliq-state"
VERSION = 2
HEADER = "header"


def config_header(config: FactorConfig) -> dict[str, Any]:
    """The factor parameters as JSON values."""
    return {"freqs": [f.seconds for f in config.freqs], "lateness_us": config.lateness_us,
            "z_windows": list(config.z_windows), "pct_windows": list(config.pct_windows),
            "bucket_quantiles": list(config.bucket_quantiles), "bucket_hours": list(config.bucket_hours),
            "mining_windows": list(config.mining_windows), "mining_quantiles": list(config.mining_quantiles),
            "metrics": config.metrics}


def dump_state(engine: BarEngine, notes: dict[str, Any]) -> bytes:
    """The engine's state and a driver's JSON-able `notes` as `.npz` bytes."""
    arrays: dict[str, np.ndarray] = {}
    books = []
    for i, book in enumerate(engine.books):
        prefix = f"b{i}."
        books.append({"closed_through": book.closed_through, "last_event_bar": book.last_event_bar,
                      "late_total": book.late_total})
        arrays[prefix + "first_bar"] = book.first_bar
        for channel, pending in book.pending.items():
            arrays.update(pending.state(f"{prefix}pending.{channel}."))
        arrays.update(book.late.state(f"{prefix}late."))
        for name, values in {**book.market.arrays(), **book.positioning.arrays(), **book.lookback.arrays(),
                             "rolling_values": book.rolling.dense(), "rolling_seen": book.rolling.seen}.items():
            arrays[prefix + name] = values
    outages = engine.outages
    header = {
        "format": FORMAT, "version": VERSION, "config": config_header(engine.config),
        "watermark": engine.watermark, "events": engine.events, "instruments": engine.instruments,
        "books": books, "notes": notes,
        "outages": {"open": {key: _outage(o) for key, o in outages.open.items()},
                    "finished": [_outage(o) for o in outages.finished]},
    }
    arrays[HEADER] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def load_engine(body: bytes, config: FactorConfig, where: str,
                aggregates: Members | None = None) -> tuple[BarEngine, dict[str, Any]]:
    """The engine and notes of `dump_state` bytes; InputError naming `where` when refused.

    `aggregates` is the membership of section 10 rows, as given to `BarEngine`.
    """
    try:
        with np.load(io.BytesIO(body), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        header = json.loads(arrays.pop(HEADER).tobytes())
    except (ValueError, KeyError, OSError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise InputError(f"{where} is not a {FORMAT} file ({type(exc).__name__}); "
                         "move it away to start from scratch") from None
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise InputError(f"{where} has format {header.get('format')} version {header.get('version')}, "
                         f"this streamliq reads {FORMAT} version {VERSION}; move it away to start from scratch")
    if header["config"] != config_header(config):
        raise InputError(f"{where} was written with other factor parameters ({header['config']}); "
                         "run with the same parameters or a new --state file")
    engine = BarEngine(config, aggregates=aggregates)
    engine.watermark = header["watermark"]
    engine.events = header["events"]
    for exchange, symbol in header["instruments"]:
        engine._instrument_ids(((exchange, symbol),))
    for i, (book, saved) in enumerate(zip(engine.books, header["books"], strict=True)):
        prefix = f"b{i}."
        mine = {name[len(prefix):]: values for name, values in arrays.items() if name.startswith(prefix)}
        book.closed_through, book.last_event_bar = saved["closed_through"], saved["last_event_bar"]
        book.late_total = saved["late_total"]
        book.first_bar = mine["first_bar"]
        for channel, pending in book.pending.items():
            pending.restore(f"pending.{channel}.", mine)
        book.late.restore("late.", mine)
        book.market = MarketCarry.from_arrays(mine)
        book.positioning.restore(mine)
        book.lookback.restore(mine)
        book.rolling.restore(mine["rolling_values"], mine["rolling_seen"])
    engine.outages.open = {key: _from_outage(o) for key, o in header["outages"]["open"].items()}
    engine.outages.finished = [_from_outage(o) for o in header["outages"]["finished"]]
    return engine, header["notes"]


def _outage(outage: Outage) -> dict[str, Any]:
    return {"instruments": None if outage.instruments is None else sorted(outage.instruments),
            "start": outage.start, "end": outage.end}


def _from_outage(saved: dict[str, Any]) -> Outage:
    instruments = saved["instruments"]
    return Outage(None if instruments is None else frozenset(map(tuple, instruments)), saved["start"], saved["end"])

