"""Factor parameters and the output column list they imply (FACTORS.md column names)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from .errors import InputError
from .events import METRIC_FIELDS
from .freq import Freq, parse_duration_us, parse_freqs

ROLLING_SERIES = ("all_notional", "long_notional", "short_notional", "all_count", "all_max")
SIDE_COLUMNS = ("count", "qty", "notional", "max", "mean", "std", "skew", "kurt", "vwap")
META_COLUMNS = ("exchange", "symbol", "freq", "bar_start", "bar_end", "n_events", "late_events", "gap")
CROSS_COLUMNS = ("imbalance", "whale_index", "time_concentration")
TICKER_COLUMNS = (
    "open", "high", "low", "close", "last_price", "index_price", "funding_rate", "open_interest",
    "basis", "ret", "oi_change", "liq_oi_ratio", "pain_long", "pain_short",
)
TRADE_COLUMNS = ("volume_qty", "volume_notional", "taker_buy_qty", "taker_sell_qty", "blood_content")
INT_COLUMNS = frozenset({"n_events", "late_events", "long_count", "short_count", "all_count"})


def percent_label(q: float) -> str:
    """`0.9` -> `90`, `0.995` -> `99.5` (FACTORS.md section 5)."""
    return f"{round(q * 100, 9):g}"


def number_label(x: float) -> str:
    """`24` -> `24`, `0.5` -> `0.5`."""
    return f"{x:g}"


@dataclass(frozen=True)
class FactorConfig:
    """Everything that decides which rows and columns the engine emits."""

    freqs: tuple[Freq, ...] = (Freq(900),)
    lateness_us: int = 5_000_000
    z_windows: tuple[int, ...] = (24, 168)
    pct_windows: tuple[int, ...] = (168,)
    bucket_quantiles: tuple[float, ...] = (0.9,)
    bucket_hours: tuple[float, ...] = (24.0,)
    mining_windows: tuple[int, ...] = (24,)
    mining_quantiles: tuple[float, ...] = (0.9,)
    metrics: bool = False  # the run has a metric channel: add the FACTORS.md section 7 columns

    @classmethod
    def build(
        cls,
        freq: str | Iterable[str] | None = None,
        lateness: str | float | None = None,
        z_windows: Iterable[int] | None = None,
        pct_windows: Iterable[int] | None = None,
        bucket_quantiles: Iterable[float] | None = None,
        bucket_hours: Iterable[float] | None = None,
        mining_windows: Iterable[int] | None = None,
        mining_quantiles: Iterable[float] | None = None,
        metrics: bool = False,
    ) -> FactorConfig:
        """Parse and validate user-facing values (strings or sequences); None takes the default."""
        default = cls()
        return cls(
            freqs=default.freqs if freq is None else parse_freqs(freq if isinstance(freq, str) else tuple(freq)),
            lateness_us=default.lateness_us if lateness is None else parse_duration_us(lateness),
            z_windows=_or(default.z_windows, z_windows, lambda v: _windows("z window", v)),
            pct_windows=_or(default.pct_windows, pct_windows, lambda v: _windows("pct window", v)),
            bucket_quantiles=_or(default.bucket_quantiles, bucket_quantiles,
                                 lambda v: _quantiles("bucket quantile", v)),
            bucket_hours=_or(default.bucket_hours, bucket_hours, _hours),
            mining_windows=_or(default.mining_windows, mining_windows, lambda v: _windows("mining window", v)),
            mining_quantiles=_or(default.mining_quantiles, mining_quantiles,
                                 lambda v: _quantiles("mining quantile", v)),
            metrics=bool(metrics),
        )

    @classmethod
    def from_options(cls, values: Mapping[str, object]) -> FactorConfig:
        """The config of option values named as in `OPTION_NAMES` (missing or None: the default)."""
        return cls.build(**{name: values.get(name) for name in OPTION_NAMES})

    def options(self) -> dict[str, str]:
        """This config as option text (`{"freq": "15m", "z_windows": "24,168", ...}`)."""
        return {
            "freq": ",".join(freq.name for freq in self.freqs),
            "lateness": f"{self.lateness_us / 1_000_000:g}s",
            "z_windows": _joined(self.z_windows), "pct_windows": _joined(self.pct_windows),
            "bucket_quantiles": _joined(self.bucket_quantiles), "bucket_hours": _joined(self.bucket_hours),
            "mining_windows": _joined(self.mining_windows), "mining_quantiles": _joined(self.mining_quantiles),
        }

    @property
    def bucket_pairs(self) -> tuple[tuple[float, float, str], ...]:
        """(q, H, column prefix) for every size-bucket column group."""
        return tuple(
            (q, h, f"big_q{percent_label(q)}_h{number_label(h)}")
            for q in self.bucket_quantiles for h in self.bucket_hours
        )

    @property
    def exceedance_pairs(self) -> tuple[tuple[int, float, str], ...]:
        """(W, q, column suffix) for every quantile-exceedance column."""
        return tuple(
            (w, q, f"exq{percent_label(q)}w{w}")
            for w in self.mining_windows for q in self.mining_quantiles
        )

    def rolling_suffixes(self) -> list[str]:
        """Suffixes of the rolling columns of one series, in column order."""
        return ([f"z{n}" for n in self.z_windows] + [f"pct{n}" for n in self.pct_windows]
                + [suffix for _, _, suffix in self.exceedance_pairs])

    def columns(self) -> list[str]:
        """Every output column, in order."""
        columns = list(META_COLUMNS)
        for side in ("long", "short", "all"):
            columns += [f"{side}_{name}" for name in SIDE_COLUMNS]
        columns += [*CROSS_COLUMNS, *TICKER_COLUMNS, *TRADE_COLUMNS]
        for _, _, prefix in self.bucket_pairs:
            columns += [f"{prefix}_{name}" for name in ("threshold", "count", "notional", "share")]
        for series in ROLLING_SERIES:
            columns += [f"{series}_{suffix}" for suffix in self.rolling_suffixes()]
        if self.metrics:
            columns += METRIC_FIELDS
        return columns


# The user-facing factor options (flags, config-file keys, `FactorConfig.build` arguments).
OPTION_NAMES = ("freq", "lateness", "z_windows", "pct_windows", "bucket_quantiles", "bucket_hours",
                "mining_windows", "mining_quantiles")


def _or(default: tuple, values: Iterable | None, parse: Callable[[Iterable], tuple]) -> tuple:
    return default if values is None else parse(values)


def _joined(values: tuple[float, ...]) -> str:
    return ",".join(f"{v:g}" for v in values)


def _windows(what: str, values: Iterable[int]) -> tuple[int, ...]:
    out = tuple(_as_number(what, v, int) for v in _items(values))
    if any(v < 1 for v in out):
        raise InputError(f"invalid {what}: windows are whole numbers of bars >= 1 (got {out})")
    return out


def _quantiles(what: str, values: Iterable[float]) -> tuple[float, ...]:
    out = tuple(_as_number(what, v, float) for v in _items(values))
    if any(not 0.0 <= v <= 1.0 for v in out):
        raise InputError(f"invalid {what}: quantiles lie in [0, 1] (got {out})")
    return out


def _hours(values: Iterable[float]) -> tuple[float, ...]:
    out = tuple(_as_number("bucket hours", v, float) for v in _items(values))
    if any(v <= 0 for v in out):
        raise InputError(f"invalid bucket hours: lookbacks are positive hours (got {out})")
    return out


def _items(values: Iterable) -> list:
    if isinstance(values, str):
        return [part for part in values.split(",") if part.strip()]
    if isinstance(values, int | float):
        return [values]
    return list(values)


def _as_number(what: str, value: object, kind: type) -> int | float:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise InputError(f"invalid {what} {value!r}: not a number") from None
    if kind is int and isinstance(value, float | str) and float(value) != number:
        raise InputError(f"invalid {what} {value!r}: not a whole number")
    return number
