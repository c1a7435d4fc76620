"""Units everywhere (FACTORS.md section 9): replayed Tardis files of the five ids in USD notional."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import LIQ_COLUMNS, MINUTE, T0, TICKER_COLUMNS

from streamliq import replay
from streamliq.cli import main
from streamliq.engine.config import FactorConfig
from streamliq.errors import InputError
from streamliq.tardis_replay import Replay
from streamliq.venues.specs import KNOWN_EXCHANGES, InstrumentSpec, implicit_spec, shipped_rows, spec_table

REALDATA = Path("/work/shared/realdata/theglory_tardis")
DAY = "2025-10-01"  # T0's day

# The checks: (exchange, symbol, price, amount in venue units, USD notional, coins)
CHECKS = [
    ("okex-swap", "BTC-USDT-SWAP", 60_000.0, 50.0, 30_000.0, 0.5),
    ("okex-swap", "BTC-USD-SWAP", 60_000.0, 50.0, 5_000.0, 5_000.0 / 60_000.0),
    ("binance-delivery", "BTCUSD_PERP", 60_000.0, 50.0, 5_000.0, 5_000.0 / 60_000.0),
    ("binance-delivery", "ETHUSD_PERP", 2_500.0, 50.0, 500.0, 500.0 / 2_500.0),
    ("bybit", "BTCUSD", 60_000.0, 5_000.0, 5_000.0, 5_000.0 / 60_000.0),
    ("binance-futures", "BTCUSDT", 60_000.0, 0.5, 30_000.0, 0.5),
    ("okex-futures", "BTC-USD-251226", 60_000.0, 50.0, 5_000.0, 5_000.0 / 60_000.0),
    ("okex-futures", "BTC-USDT-251226", 60_000.0, 50.0, 30_000.0, 0.5),
]


def write_rows(folder: Path, exchange: str, channel: str, symbol: str, rows: list[dict]) -> Path:
    """A Tardis file of `rows` (missing columns empty)."""
    columns = TICKER_COLUMNS if channel == "derivative_ticker" else LIQ_COLUMNS
    frame = pd.DataFrame(rows).assign(exchange=exchange).reindex(columns=columns)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{exchange}_{channel}_{DAY}_{symbol}.csv.gz"
    with gzip.open(path, "wt", newline="") as handle:
        frame.to_csv(handle, index=False, lineterminator="\n")
    return path


def event(symbol: str, price: float, amount: float, ts: int = T0 + 1_000_000, side: str = "sell") -> dict:
    return {"symbol": symbol, "timestamp": ts, "local_timestamp": ts + 50_000, "side": side, "price": price,
            "amount": amount}


def by_symbol(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["all_count"] > 0].set_index("symbol") if "all_count" in frame else frame


@pytest.fixture(scope="module")
def five_venues(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("five")
    for exchange, symbol, price, amount, _, _ in CHECKS:
        write_rows(folder, exchange, "liquidations", symbol, [event(symbol, price, amount)])
        write_rows(folder, exchange, "trades", symbol, [event(symbol, price, amount, side="buy")])
    return folder


@pytest.mark.parametrize(("exchange", "symbol", "price", "amount", "notional", "coins"), CHECKS,
                         ids=[f"{c[0]}:{c[1]}" for c in CHECKS])
def test_replayed_notional_is_usd(five_venues, exchange, symbol, price, amount, notional, coins):
    rows = replay(five_venues, freq="1m")
    row = rows[(rows["exchange"] == exchange) & (rows["symbol"] == symbol)].iloc[0]
    assert row["all_notional"] == pytest.approx(notional, rel=1e-12)
    assert row["long_notional"] == pytest.approx(notional, rel=1e-12)
    assert row["all_qty"] == pytest.approx(coins, rel=1e-12)
    assert row["all_vwap"] == pytest.approx(price, rel=1e-12)
    assert row["volume_notional"] == pytest.approx(notional, rel=1e-12)
    assert row["taker_buy_qty"] == pytest.approx(coins, rel=1e-12)


def test_inverse_open_interest_uses_the_mark_price(tmp_path):
    """Contracts of open interest as coins: the row's mark price, else the last one seen."""
    ticks = [
        {"symbol": "BTC-USD-SWAP", "timestamp": T0 + 1, "local_timestamp": T0 + 2, "mark_price": 60_000.0,
         "open_interest": 1_200.0},
        {"symbol": "BTC-USD-SWAP", "timestamp": T0 + MINUTE + 1, "local_timestamp": T0 + MINUTE + 2,
         "open_interest": 1_500.0},  # no mark price in this row: the last one, 60,000
        {"symbol": "BTC-USD-SWAP", "timestamp": T0 + 2 * MINUTE + 1, "local_timestamp": T0 + 2 * MINUTE + 2,
         "mark_price": 50_000.0, "open_interest": 1_500.0},
    ]
    write_rows(tmp_path, "okex-swap", "derivative_ticker", "BTC-USD-SWAP", ticks)
    write_rows(tmp_path, "okex-swap", "derivative_ticker", "BTC-USDT-SWAP",
               [{**ticks[0], "symbol": "BTC-USDT-SWAP", "open_interest": 1_000.0}])
    write_rows(tmp_path, "okex-swap", "liquidations", "BTC-USD-SWAP", [event("BTC-USD-SWAP", 60_000.0, 1.0)])
    rows = replay(tmp_path, freq="1m").set_index("symbol", append=True).swaplevel()
    inverse = rows.loc["BTC-USD-SWAP", "open_interest"].to_numpy()
    np.testing.assert_allclose(inverse, [2.0, 2.5, 3.0], rtol=1e-12)  # 1200 x 100 USD / 60,000 ...
    assert rows.loc["BTC-USDT-SWAP", "open_interest"].iloc[0] == pytest.approx(10.0, rel=1e-12)  # x 0.01 BTC
    assert rows.loc["BTC-USD-SWAP", "all_qty"].iloc[0] == pytest.approx(100.0 / 60_000.0, rel=1e-12)


def test_binance_delivery_real_trades_are_counted_in_contracts_of_10_usd(tmp_path):
    """Real Tardis trades of ATOMUSD_PERP (COIN-M, 10 USD a contract) on the 2025-10-10 crash."""
    source = REALDATA / "binance-delivery_trades_2025-10-10_ATOMUSD_PERP.csv.gz"
    if not source.exists():
        pytest.skip("real data folder not present")
    frame = pd.read_csv(source, nrows=5_000)
    with gzip.open(tmp_path / source.name, "wt", newline="") as handle:
        frame.to_csv(handle, index=False, lineterminator="\n")
    rows = replay(tmp_path, freq="1h")
    assert rows["volume_notional"].sum() == pytest.approx(10.0 * frame["amount"].sum(), rel=1e-9)
    assert rows["volume_qty"].sum() == pytest.approx((10.0 * frame["amount"] / frame["price"]).sum(), rel=1e-9)
    assert (rows["volume_notional"] < 100 * frame["amount"].sum()).all()  # not price x contracts


# -- missing specs ---------------------------------------------------------------------------

def test_contract_symbol_without_spec_stops_naming_symbol_venue_and_flag(tmp_path):
    path = write_rows(tmp_path, "okex-swap", "liquidations", "PERPETUALS",
                      [event("BTC-USDT-SWAP", 60_000.0, 1.0), event("FOO-USDT-SWAP", 2.0, 10.0, ts=T0 + 2_000_000)])
    with pytest.raises(InputError) as error:
        list(Replay(tmp_path, FactorConfig.build(freq="1m")))
    message = str(error.value)
    assert message.startswith(f"{path}:3: no contract spec for symbol 'FOO-USDT-SWAP' of exchange 'okex-swap'")
    assert "--instruments FILE" in message and "--skip-bad-rows" in message


def test_skip_bad_rows_skips_and_counts_a_symbol_without_spec(tmp_path):
    write_rows(tmp_path, "binance-delivery", "liquidations", "PERPETUALS",
               [event("BTCUSD_PERP", 60_000.0, 1.0), event("NEWUSD_PERP", 2.0, 10.0, ts=T0 + 2_000_000),
                event("NEWUSD_PERP", 2.0, 10.0, ts=T0 + 3_000_000)])
    run = Replay(tmp_path, FactorConfig.build(freq="1m"), skip_bad_rows=True)
    rows = pd.DataFrame(list(run))
    assert set(rows["symbol"]) == {"BTCUSD_PERP"}
    assert run.stats.bad_rows.counts == {"no contract spec for NEWUSD_PERP (binance-delivery)": 2}


def test_coin_symbols_of_coin_venues_need_no_spec(tmp_path):
    write_rows(tmp_path, "binance-futures", "liquidations", "PERPETUALS",
               [event("1000PEPEUSDT", 0.0104, 100_000.0), event("NEWCOINUSDT", 2.0, 10.0)])
    write_rows(tmp_path, "bybit", "liquidations", "PERPETUALS", [event("NEWCOINUSDT", 2.0, 10.0)])
    rows = by_symbol(replay(tmp_path, freq="1m"))
    assert rows.loc["1000PEPEUSDT", "all_qty"] == 100_000.0  # the venue's unit: thousands of PEPE
    assert rows.loc["1000PEPEUSDT", "all_notional"] == pytest.approx(1_040.0, rel=1e-12)
    assert list(rows.loc["NEWCOINUSDT", "all_notional"]) == [20.0, 20.0]


def test_bybit_inverse_without_spec_is_an_error(tmp_path):
    write_rows(tmp_path, "bybit", "liquidations", "PERPETUALS", [event("NEWUSD", 2.0, 10.0)])
    with pytest.raises(InputError, match="'NEWUSD' of exchange 'bybit'"):
        replay(tmp_path, freq="1m")


# -- --instruments ---------------------------------------------------------------------------

def test_instruments_file_adds_and_overrides_rows(tmp_path):
    data = tmp_path / "data"
    write_rows(data, "okex-swap", "liquidations", "PERPETUALS",
               [event("FOO-USDT-SWAP", 2.0, 10.0), event("BTC-USDT-SWAP", 60_000.0, 50.0)])
    specs = tmp_path / "specs.csv"
    specs.write_text("# my venue's specs\nexchange,symbol,base,kind,contract_value,base_per_unit\n"
                     "okex-swap,FOO-USDT-SWAP,FOO,linear,100,1\n"
                     "okex-swap,BTC-USDT-SWAP,BTC,linear,0.001,\n")
    rows = by_symbol(replay(data, freq="1m", instruments=specs))
    assert rows.loc["FOO-USDT-SWAP", "all_notional"] == pytest.approx(2_000.0, rel=1e-12)
    assert rows.loc["BTC-USDT-SWAP", "all_notional"] == pytest.approx(3_000.0, rel=1e-12)


def test_instruments_flag_on_the_command_line(tmp_path, capsys):
    data = tmp_path / "data"
    write_rows(data, "okex-swap", "liquidations", "PERPETUALS",
               [event("FOO-USDT-SWAP", 2.0, 10.0), event("BTC-USDT-SWAP", 60_000.0, 50.0)])
    specs = tmp_path / "specs.csv"
    specs.write_text("exchange,symbol,base,kind,contract_value,base_per_unit\nokex-swap,FOO-USDT-SWAP,FOO,linear,100,1\n")
    out = tmp_path / "rows.csv"
    assert main(["replay", "--data-dir", str(data), "--freq", "1m", "--instruments", str(specs), "--aggregate",
                 "--out", str(out), "--quiet"]) == 0
    rows = pd.read_csv(out).set_index(["exchange", "symbol"])
    assert rows.loc[("okex-swap", "FOO-USDT-SWAP"), "all_notional"] == pytest.approx(2_000.0)
    assert rows.loc[("all", "BTC"), "all_notional"] == pytest.approx(30_000.0)
    assert main(["replay", "--data-dir", str(data), "--out", str(out), "--quiet"]) == 2
    assert "'FOO-USDT-SWAP' of exchange 'okex-swap'" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "error"), [
    ("exchange,symbol,base,kind,contract_value\nokex-swap,X,X,linear,1\n",
     r"specs.csv:1: missing column 'base_per_unit'"),
    ("exchange,symbol,base,kind,contract_value,base_per_unit\nokex-swap,X,X,linear,1,1\nokex-swap,Y,Y,lin,1,1\n",
     r"specs.csv:3: field 'kind': expected linear or inverse \(got 'lin'\)"),
    ("exchange,symbol,base,kind,contract_value,base_per_unit\n\nokex-swap,X,X,linear,abc,1\n",
     r"specs.csv:3: field 'contract_value': must be a positive number \(got 'abc'\)"),
    ("exchange,symbol,base,kind,contract_value,base_per_unit\nokex-swap,X,X,linear,-1,1\n",
     r"specs.csv:2: field 'contract_value': must be a positive number"),
    ("exchange,symbol,base,kind,contract_value,base_per_unit\nokex-swap,X,,linear,1,1\n",
     r"specs.csv:2: field 'base': missing value"),
    ("exchange,symbol,base,kind,contract_value,base_per_unit\nokex-swap,X,X,linear,1\n",
     r"specs.csv:2: row has 5 fields, the header has 6"),
    ("", r"specs.csv: the instruments file is empty"),
])
def test_instruments_file_errors_name_file_line_and_field(tmp_path, text, error):
    specs = tmp_path / "specs.csv"
    specs.write_text(text)
    with pytest.raises(InputError, match=error):
        Replay(tmp_path, FactorConfig.build(freq="1m"), instruments=specs)


def test_missing_instruments_file(tmp_path):
    with pytest.raises(InputError, match="cannot read the instruments file"):
        spec_table(tmp_path / "nope.csv")


# -- the table and the implicit rules ---------------------------------------------------------

def test_the_shipped_table_covers_30_instruments_of_every_id():
    rows = shipped_rows()
    for exchange in KNOWN_EXCHANGES:
        assert sum(spec.exchange == exchange for spec in rows) >= 30, exchange
    table = spec_table()
    for exchange, symbol, *_ in CHECKS:
        assert table.lookup(exchange, symbol) is not None


@pytest.mark.parametrize(("exchange", "symbol", "base", "per_unit"), [
    ("binance-futures", "1000PEPEUSDT", "PEPE", 1e3), ("binance-futures", "1000000MOGUSDT", "MOG", 1e6),
    ("binance-futures", "1MBABYDOGEUSDT", "BABYDOGE", 1e6), ("binance-futures", "1INCHUSDT", "1INCH", 1.0),
    ("binance-futures", "BTCUSDT_251226", "BTC", 1.0), ("binance-futures", "ETHUSDC", "ETH", 1.0),
    ("binance-futures", "币安人生USDT", "币安人生", 1.0),  # Binance lists non-ASCII symbols
    ("bybit", "SHIB1000USDT", "SHIB", 1e3), ("bybit", "10000LADYSUSDT", "LADYS", 1e4),
    ("bybit", "BTCPERP", "BTC", 1.0), ("bybit", "ETH-26DEC25", "ETH", 1.0),
])
def test_implicit_coin_specs(exchange, symbol, base, per_unit):
    spec = implicit_spec(exchange, symbol)
    assert (spec.base, spec.kind, spec.contract_value, spec.base_per_unit) == (base, "linear", 1.0, per_unit)


@pytest.mark.parametrize(("exchange", "symbol"), [
    ("bybit", "BTCUSD"), ("bybit", "BTCUSDH25"), ("binance-delivery", "BTCUSD_PERP"),
    ("okex-swap", "BTC-USDT-SWAP"), ("okex-futures", "BTC-USD-251226"), ("binance-futures", "BTCUSD_PERP"),
])
def test_contract_symbols_have_no_implicit_spec(exchange, symbol):
    assert implicit_spec(exchange, symbol) is None


def test_dated_futures_match_their_family_row():
    table = spec_table()
    assert table.lookup("binance-delivery", "BTCUSD_260327").contract_value == 100.0
    assert table.lookup("bybit", "BTCUSDZ25").kind == "inverse"
    spec = table.lookup("okex-futures", "ETH-USDT-260327")
    assert (spec.symbol, spec.contract_value, spec.kind) == ("ETH-USDT-260327", 0.1, "linear")
    assert table.lookup("binance-futures", "ETHUSD_PERP").contract_value == 10.0  # COIN-M on the USD-M stream


def test_base_amount_of_linear_and_inverse_specs():
    linear = InstrumentSpec("okex-swap", "BTC-USDT-SWAP", "BTC", "linear", 0.01)
    inverse = InstrumentSpec("binance-delivery", "ETHUSD_PERP", "ETH", "inverse", 10.0)
    assert linear.base_amount(np.array([50.0]), np.array([60_000.0]))[0] == pytest.approx(0.5)
    assert inverse.base_amount(np.array([50.0]), np.array([2_500.0]))[0] == pytest.approx(0.2)
    assert not math.isnan(inverse.base_per_unit)
