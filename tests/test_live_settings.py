"""`streamliq run` settings: flags, the equivalent TOML file, and clear errors."""

from __future__ import annotations

import pytest

from streamliq.cli import main
from streamliq.errors import InputError
from streamliq.live.daemon import LiveDaemon
from streamliq.live.settings import BINANCE_WS_URL, resolve


def test_toml_file_is_equivalent_to_flags_and_flags_win(tmp_path):
    config = tmp_path / "live.toml"
    config.write_text('symbols = ["btcusdt", "ethusdt"]\nfreq = ["1m", "5s"]\nchannels = "liquidations"\n'
                      'lateness = "2s"\nout = "x.csv"\nstate = "s.state"\noi-interval = 10\n'
                      'rotate_after = "1h"\n')
    from_file = resolve({}, str(config))
    from_flags = resolve({"symbols": "btcusdt,ethusdt", "freq": "1m,5s", "channels": "liquidations",
                          "lateness": "2s", "out": "x.csv", "state": "s.state", "oi_interval": "10s",
                          "rotate_after": "1h"}, None)
    assert from_file == from_flags
    assert from_file.symbols == ("BTCUSDT", "ETHUSDT")
    assert [f.name for f in from_file.factors.freqs] == ["1m", "5s"]
    assert (from_file.ws_url, from_file.oi_interval_s, from_file.rotate_after_s) == (BINANCE_WS_URL, 10.0, 3600.0)
    assert resolve({"freq": "15m"}, str(config)).factors.freqs[0].name == "15m"


@pytest.mark.parametrize(("values", "message"), [
    ({}, "give either --symbols"),
    ({"symbols": "btcusdt", "all_symbols": True}, "give either --symbols"),
    ({"all_symbols": True, "channels": "trades"}, "trades channel needs --symbols"),
    ({"symbols": "btcusdt", "channels": "liquidations,books"}, "invalid channels ['books']"),
    ({"symbols": "btcusdt", "freq": "7m"}, "7m"),
    ({"symbols": "btcusdt", "oi_interval": "soon"}, "invalid oi-interval 'soon'"),
    ({"symbols": "btcusdt", "streams_per_connection": 2000}, "invalid streams-per-connection 2000"),
])
def test_bad_settings_are_refused_with_a_clear_message(values, message):
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        resolve(values, None)


def test_unknown_config_key_and_missing_file(tmp_path, capsys):
    config = tmp_path / "live.toml"
    config.write_text('symbol = "btcusdt"\n')
    assert main(["run", "--config", str(config)]) == 2
    assert "unknown key 'symbol'" in capsys.readouterr().err
    assert main(["run", "--config", str(tmp_path / "nope.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_streams_are_spread_over_connections_with_each_symbol_on_one():
    symbols = ",".join(f"s{i}usdt" for i in range(250))
    settings = resolve({"symbols": symbols, "channels": "liquidations,ticker,trades"}, None)
    connections = LiveDaemon(settings)._plan_connections()
    assert [len(c.streams) for c in connections] == [198, 198, 198, 156]
    assert all(len(c.streams) == 3 * len(c.symbols) for c in connections)
    assert all(c.url == BINANCE_WS_URL + "/market/stream" for c in connections)
    assert connections[0].streams[:3] == ["s0usdt@forceOrder", "s0usdt@markPrice@1s", "s0usdt@aggTrade"]
