"""`--sink` and serving options (flags and TOML), and the `streamliq serve` command end to end."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import tomllib
import urllib.error
import urllib.request

import pytest
from conftest import make_events, write_tardis
from test_cli import COMMAND

from streamliq.cli import build_parser, main
from streamliq.engine.config import FactorConfig
from streamliq.errors import InputError
from streamliq.rows import row_to_json
from streamliq.serving import ServingOptions, build_sinks
from streamliq.sinks.async_files import FileRowSink
from streamliq.sinks.redis_streams import RedisSink
from streamliq.sinks.server import RowServer
from streamliq.sinks.specs import SinkSpec, parse_listen_address, parse_sink_spec, parse_sink_specs
from streamliq.telemetry import Metrics

FORMS = "use parquet:PATH, csv:PATH, jsonl:PATH, jsonl:-, ws://HOST:PORT or redis://HOST:PORT/DB"


@pytest.mark.parametrize(("text", "spec"), [
    ("parquet:out/f.parquet", SinkSpec("parquet", path="out/f.parquet")),
    ("CSV:f.csv", SinkSpec("csv", path="f.csv")),
    ("jsonl:-", SinkSpec("jsonl", path="-")),
    ("ws://0.0.0.0:8765", SinkSpec("ws", host="0.0.0.0", port=8765)),
    ("ws://[::1]:9000/", SinkSpec("ws", host="::1", port=9000)),
    ("redis://127.0.0.1:6379/2", SinkSpec("redis", host="127.0.0.1", port=6379, db=2)),
    ("redis://localhost:6379", SinkSpec("redis", host="localhost", port=6379, db=0)),
    ("redis://r:1/0?maxlen=5000", SinkSpec("redis", host="r", port=1, db=0, maxlen=5000)),
])
def test_sink_specs_parse(text, spec):
    assert parse_sink_spec(text) == spec


@pytest.mark.parametrize(("text", "why"), [
    ("parquet:", "missing path"),
    ("csv:-", "only jsonl can write to stdout (-)"),
    ("kafka://h:1", "unknown kind"),
    ("out.parquet", "unknown kind"),
    ("ws://localhost", "needs HOST:PORT"),
    ("ws://h:99999", "Port out of range 0-65535"),
    ("ws://h:1/feed", "a ws sink is the server's listen address, without path or query"),
    ("redis://h:1/x", "database 'x' is not a number"),
    ("redis://h:1/0?maxlen=0", "maxlen '0' is not a positive whole number"),
    ("redis://h:1/0?ttl=5", "unknown option 'ttl' (only maxlen)"),
])
def test_bad_sink_specs_name_the_value_and_the_forms(text, why):
    with pytest.raises(InputError) as failure:
        parse_sink_spec(text)
    assert str(failure.value) == f"sink {text!r}: {why}; {FORMS}"


def test_a_sink_given_twice_is_refused():
    with pytest.raises(InputError, match=r"^sink 'redis://r:1/0' given twice$"):
        parse_sink_specs(["redis://r:1", "redis://r:1/0?maxlen=9"])


def test_listen_addresses():
    assert parse_listen_address("127.0.0.1:8765") == ("127.0.0.1", 8765)
    assert parse_listen_address("[::1]:80") == ("::1", 80)
    for bad in ("8765", "localhost", "h:1/x", "h:port"):
        with pytest.raises(InputError, match=rf"^--serve '{re.escape(bad)}': .*use HOST:PORT, e.g. 127.0.0.1:8765$"):
            parse_listen_address(bad)


def test_flags_and_toml_give_the_same_options(monkeypatch):
    monkeypatch.delenv("STREAMLIQ_TOKEN", raising=False)
    args = build_parser().parse_args(["serve", "--serve", "127.0.0.1:9001", "--token", "t0k", "--ring-size", "50",
                                      "--client-queue", "200", "--sink", "redis://127.0.0.1:6379/1",
                                      "--sink", "jsonl:-"])
    table = tomllib.loads('''
        [serve]
        listen = "127.0.0.1:9001"
        token = "t0k"
        ring_size = 50
        client_queue = 200
        sinks = ["redis://127.0.0.1:6379/1", "jsonl:-"]
    ''')["serve"]
    assert ServingOptions.from_args(args) == ServingOptions.from_mapping(table) == ServingOptions(
        listen=("127.0.0.1", 9001), token="t0k", ring_size=50, client_queue=200,
        sinks=[SinkSpec("redis", host="127.0.0.1", port=6379, db=1), SinkSpec("jsonl", path="-")])
    defaults = build_parser().parse_args(["serve"])
    assert ServingOptions.from_args(defaults).listen == ("127.0.0.1", 8765)
    monkeypatch.setenv("STREAMLIQ_TOKEN", "from-env")
    assert ServingOptions.from_mapping({}).token == "from-env"


@pytest.mark.parametrize(("table", "message"), [
    ({"sink": []}, "serve config: unknown key 'sink' (known: client_queue, listen, ring_size, sinks, token)"),
    ({"sinks": "redis://h:1/0"}, "serve config: 'sinks' must be a list of strings (got 'redis://h:1/0')"),
    ({"ring_size": 0}, "ring size must be a whole number >= 1 (got 0)"),
    ({"client_queue": "9"}, "client queue must be a whole number >= 1 (got '9')"),
    ({"token": 5}, "token must be a non-empty string"),
])
def test_bad_config_tables(table, message, monkeypatch):
    monkeypatch.delenv("STREAMLIQ_TOKEN", raising=False)
    with pytest.raises(InputError) as failure:
        ServingOptions.from_mapping(table)
    assert str(failure.value) == message


def test_build_sinks_puts_the_server_first(tmp_path):
    options = ServingOptions.build(listen="127.0.0.1:9002", sinks=[f"parquet:{tmp_path}/f.parquet", "ws://[::1]:9003",
                                                                   "redis://h:1/0"])
    sinks = build_sinks(options, FactorConfig().columns(), Metrics())
    assert [type(s) for s in sinks] == [RowServer, RowServer, FileRowSink, RedisSink]
    assert [s.name for s in sinks] == ["ws://127.0.0.1:9002", "ws://[::1]:9003", f"parquet:{tmp_path}/f.parquet",
                                       "redis://h:1/0"]
    with pytest.raises(InputError, match=r"^the same server address is given twice \(--serve and a ws:// sink\)$"):
        build_sinks(ServingOptions.build(listen="127.0.0.1:9002", sinks=["ws://127.0.0.1:9002"]), [], Metrics())
    with pytest.raises(InputError, match=r"^sink 'csv:out.parquet': a csv file name ends in \.csv$"):
        build_sinks(ServingOptions.build(sinks=["csv:out.parquet"]), [], Metrics())


def test_serve_without_anywhere_to_send_rows_exits_2(capsys):
    assert main(["serve", "--serve", "off"]) == 2
    assert capsys.readouterr().err == ("streamliq: error: nothing to send rows to: give --serve HOST:PORT or at "
                                       "least one --sink\n")
    assert main(["serve", "--sink", "kafka://x:1"]) == 2
    assert capsys.readouterr().err == f"streamliq: error: sink 'kafka://x:1': unknown kind; {FORMS}\n"


def test_serve_writes_file_sinks_like_replay(tmp_path, capsys):
    write_tardis(make_events(seed=9, days=1, ticker_every_s=300, trades_per_hour=20), tmp_path / "d")
    out = tmp_path / "rows.jsonl"
    assert main(["serve", "--data-dir", str(tmp_path / "d"), "--freq", "1h", "--serve", "off", "--exit-when-done",
                 "--quiet", "--sink", f"jsonl:{out}"]) == 0
    assert main(["replay", "--data-dir", str(tmp_path / "d"), "--freq", "1h", "--out", str(tmp_path / "r.jsonl"),
                 "--quiet"]) == 0
    assert out.read_text() == (tmp_path / "r.jsonl").read_text() != ""


def test_serve_command_serves_the_replay_and_stops_on_sigterm(tmp_path):
    """The real console script: rows over HTTP with a token, then SIGTERM ends it cleanly and quickly."""
    folder = tmp_path / "d"
    write_tardis(make_events(seed=4, days=1, ticker_every_s=300, trades_per_hour=20), folder)
    proc = subprocess.Popen([*COMMAND, "serve", "--data-dir", str(folder), "--freq", "15m", "--serve",
                             "127.0.0.1:0", "--token", "abc"], stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline()
        match = re.fullmatch(r"streamliq serve: sending rows to http://127\.0\.0\.1:(\d+) \(HTTP, WebSocket /ws\); "
                             r"Ctrl-C to stop\n", first)
        assert match, first
        base = f"http://127.0.0.1:{match.group(1)}"

        def get(path: str, token: str | None = "abc"):
            request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"} if token
                                             else {})
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.loads(response.read())

        deadline = time.monotonic() + 30
        while get("/health")["source"]["state"] != "done":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with pytest.raises(urllib.error.HTTPError) as failure:
            get("/health", token=None)
        assert failure.value.code == 401
        from streamliq.tardis_replay import Replay
        rows = list(Replay(folder, FactorConfig.build(freq="15m")))
        last = {(r["symbol"]): r for r in rows}
        assert get("/factors/latest") == [json.loads(row_to_json(last[s])) for s in sorted(last)]
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - started < 5  # the daemon contract: gone within 5 s of SIGTERM
        assert proc.stderr.read() == f"streamliq serve: {len(rows):,} rows from " \
            f"{get_events(folder):,} events; 0 dropped by sinks\n"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def get_events(folder) -> int:
    from streamliq.tardis_replay import Replay
    replay = Replay(folder, FactorConfig.build(freq="15m"))
    for _ in replay:
        pass
    return replay.stats.events
