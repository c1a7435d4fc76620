"""`--sink` values (and the TOML `sinks` list): text in, validated `SinkSpec` out.

    parquet:PATH   csv:PATH   jsonl:PATH   jsonl:-   ws://HOST:PORT   redis://HOST:PORT/DB[?maxlen=N]
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from ..errors import InputError

FILE_KINDS = ("parquet", "csv", "jsonl")
FORMS = "parquet:PATH, csv:PATH, jsonl:PATH, jsonl:-, ws://HOST:PORT or redis://HOST:PORT/DB"
DEFAULT_REDIS_MAXLEN = 100_000


@dataclass(frozen=True)
class SinkSpec:
    """One parsed sink: `kind` is a file format, `ws` or `redis`."""

    kind: str
    path: str | None = None  # file kinds ("-" is stdout, jsonl only)
    host: str | None = None  # ws, redis
    port: int | None = None
    db: int = 0  # redis
    maxlen: int = DEFAULT_REDIS_MAXLEN  # redis: XADD MAXLEN ~ N per stream

    @property
    def text(self) -> str:
        """The canonical spelling (also the sink's name in metrics)."""
        if self.kind in FILE_KINDS:
            return f"{self.kind}:{self.path}"
        if self.kind == "ws":
            return f"ws://{_host_text(self.host)}:{self.port}"
        return f"redis://{_host_text(self.host)}:{self.port}/{self.db}"


def parse_sink_spec(text: str) -> SinkSpec:
    """Parse one sink; InputError naming the value and the accepted forms when it is invalid."""
    text = str(text).strip()
    kind, sep, rest = text.partition(":")
    kind = kind.lower()
    if sep and kind in FILE_KINDS:
        if not rest:
            raise _bad(text, "missing path")
        if rest == "-" and kind != "jsonl":
            raise _bad(text, "only jsonl can write to stdout (-)")
        return SinkSpec(kind, path=rest)
    if kind in ("ws", "redis") and rest.startswith("//"):
        return _parse_url(text, kind)
    raise _bad(text, "unknown kind")


def parse_sink_specs(values: list[str] | tuple[str, ...] | None) -> list[SinkSpec]:
    """Parse a list of sinks (repeated `--sink`, or the config's `sinks`), refusing repeats."""
    specs = [parse_sink_spec(value) for value in values or ()]
    seen: set[str] = set()
    for spec in specs:
        if spec.text in seen:
            raise InputError(f"sink {spec.text!r} given twice")
        seen.add(spec.text)
    return specs


def parse_listen_address(text: str, what: str = "--serve") -> tuple[str, int]:
    """`HOST:PORT` (`[::1]:8765` for IPv6) -> (host, port)."""
    try:
        parts = urlsplit(f"//{text.strip()}")
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise InputError(f"{what} {text!r}: {exc}; use HOST:PORT, e.g. 127.0.0.1:8765") from None
    if not host or port is None or parts.path or parts.query or parts.username:
        raise InputError(f"{what} {text!r}: use HOST:PORT, e.g. 127.0.0.1:8765")
    return host, port


def _parse_url(text: str, kind: str) -> SinkSpec:
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise _bad(text, str(exc)) from None
    if not parts.hostname or port is None:
        raise _bad(text, "needs HOST:PORT")
    if kind == "ws":
        if parts.path not in ("", "/") or parts.query:
            raise _bad(text, "a ws sink is the server's listen address, without path or query")
        return SinkSpec("ws", host=parts.hostname, port=port)
    db_text = parts.path.strip("/") or "0"
    if not db_text.isdigit():
        raise _bad(text, f"database {db_text!r} is not a number")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = set(query) - {"maxlen"}
    if unknown:
        raise _bad(text, f"unknown option {sorted(unknown)[0]!r} (only maxlen)")
    maxlen_text = query.get("maxlen", [str(DEFAULT_REDIS_MAXLEN)])[-1]
    if not maxlen_text.isdigit() or int(maxlen_text) < 1:
        raise _bad(text, f"maxlen {maxlen_text!r} is not a positive whole number")
    return SinkSpec("redis", host=parts.hostname, port=port, db=int(db_text), maxlen=int(maxlen_text))


def _host_text(host: str | None) -> str:
    return f"[{host}]" if host and ":" in host else str(host)


def _bad(text: str, why: str) -> InputError:
    return InputError(f"sink {text!r}: {why}; use {FORMS}")
