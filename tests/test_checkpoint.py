"""Checkpoints: plain arrays and JSON, read without pickle; a restored engine continues bit for bit."""

from __future__ import annotations

import io
import json
import pickle
import zipfile

import numpy as np
import pytest
from conftest import channel_batch, make_events

from streamliq.engine import BarEngine
from streamliq.engine.config import FactorConfig
from streamliq.engine.features.rolling import RollingState
from streamliq.engine.state import FORMAT, VERSION
from streamliq.errors import InputError
from streamliq.live.checkpoint import load_state, save_state

CONFIG = FactorConfig.build(freq="5m,1h", z_windows=(3, 12), pct_windows=(6,), mining_windows=(4,),
                            bucket_hours=(1,))


def _batches() -> list:
    """Every channel of the adversarial sample, as arrival-ordered batches of ~500 events."""
    out = []
    for channel, frame in make_events(seed=5, days=2).items():
        whole = channel_batch(channel, frame.sort_values("local_timestamp", kind="stable"))
        out += [whole.take(slice(i, i + 500)) for i in range(0, len(whole), 500)]
    return sorted(out, key=lambda b: int(b.arrival[0]))


def _run(engine: BarEngine, batches: list) -> list[dict]:
    rows = []
    for batch in batches:
        engine.feed(batch)
        rows += engine.advance(int(batch.arrival[-1])).to_dicts()
    return rows


def test_a_restored_engine_continues_bit_for_bit(tmp_path):
    batches = _batches()
    straight = BarEngine(CONFIG)
    expected = _run(straight, batches) + straight.flush().to_dicts()
    half = len(batches) // 2
    first = BarEngine(CONFIG)
    rows = _run(first, batches[:half])
    save_state(tmp_path / "state", first, {"last_time": 7})
    restored, notes = load_state(tmp_path / "state", CONFIG)
    assert notes == {"last_time": 7}
    rows += _run(restored, batches[half:]) + restored.flush().to_dicts()
    assert len(rows) == len(expected) > 500
    for got, want in zip(rows, expected, strict=True):
        assert got.keys() == want.keys()
        for key, value in want.items():
            assert got[key] == value or (value != value and got[key] != got[key]), key


def test_rolling_state_keeps_its_dense_checkpoint_form():
    """The state keeps only non-zero values; a checkpoint stores the last `depth` values of every
    instrument (newest last, zeros before its first row), as it always has."""
    state = RollingState(n_series=2, depth=4)
    state.grow(3)
    state.seen = np.array([10, 2, 0])  # instrument 1 has fewer rows than the depth, 2 none
    state.series, state.inst = np.array([0, 1, 0, 1]), np.array([0, 0, 1, 1])
    state.row, state.value = np.array([6, 9, 0, 1]), np.array([1.5, 2.5, 3.5, 4.5])
    dense = state.dense()
    assert dense[0, :, 0].tolist() == [1.5, 0, 0, 0] and dense[0, :, 1].tolist() == [0, 0, 0, 2.5]
    assert dense[1, :, 0].tolist() == [0, 0, 3.5, 0] and dense[1, :, 1].tolist() == [0, 0, 0, 4.5]
    assert not dense[2].any()
    again = RollingState(n_series=2, depth=4)
    again.restore(dense, state.seen)
    entries = sorted(zip(again.series, again.inst, again.row, again.value, strict=True))
    assert entries == sorted(zip(state.series, state.inst, state.row, state.value, strict=True))


def test_the_state_file_is_npz_with_a_json_header_and_no_object_arrays(tmp_path):
    engine = BarEngine(CONFIG)
    _run(engine, _batches()[:5])
    save_state(tmp_path / "state", engine, {})
    with np.load(tmp_path / "state", allow_pickle=False) as npz:
        header = json.loads(npz["header"].tobytes())
        assert all(npz[name].dtype != object for name in npz.files)
    assert header["format"] == FORMAT and header["version"] == VERSION
    assert header["config"]["freqs"] == [300, 3600]


class _Boom:
    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').write('ran')",))


def test_a_pickle_payload_is_refused_and_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "state").write_bytes(pickle.dumps({"format": "streamliq-state/1", "engine": _Boom()}))
    with pytest.raises(InputError, match=r"state file '.*state' is not a streamliq-state file"):
        load_state(tmp_path / "state", CONFIG)
    assert not (tmp_path / "PWNED").exists()


def test_an_npz_holding_a_pickled_object_array_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    body = io.BytesIO()
    np.savez(body, header=np.frombuffer(b"{}", np.uint8), evil=np.array([_Boom()], dtype=object))
    (tmp_path / "state").write_bytes(body.getvalue())
    with pytest.raises(InputError, match="is not a streamliq-state file"):
        load_state(tmp_path / "state", CONFIG)
    assert not (tmp_path / "PWNED").exists()


def _rewrite_header(path, change) -> None:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    header = json.loads(arrays["header"].tobytes())
    change(header)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def test_another_format_version_is_refused_with_one_line(tmp_path):
    save_state(tmp_path / "state", BarEngine(CONFIG), {})
    _rewrite_header(tmp_path / "state", lambda h: h.update(version=VERSION + 1))
    with pytest.raises(InputError) as caught:
        load_state(tmp_path / "state", CONFIG)
    message = str(caught.value)
    assert "\n" not in message and f"version {VERSION + 1}" in message
    assert f"reads {FORMAT} version {VERSION}" in message


def test_other_factor_parameters_are_refused(tmp_path):
    save_state(tmp_path / "state", BarEngine(CONFIG), {})
    other = FactorConfig.build(freq="5m,1h", z_windows=(3, 24), pct_windows=(6,), mining_windows=(4,),
                               bucket_hours=(1,))
    with pytest.raises(InputError, match="other factor parameters"):
        load_state(tmp_path / "state", other)


def test_a_truncated_state_file_is_refused(tmp_path):
    save_state(tmp_path / "state", BarEngine(CONFIG), {})
    body = (tmp_path / "state").read_bytes()
    (tmp_path / "state").write_bytes(body[: len(body) // 2])
    with pytest.raises(InputError, match="is not a streamliq-state file"):
        load_state(tmp_path / "state", CONFIG)
    assert zipfile.is_zipfile(io.BytesIO(body))
