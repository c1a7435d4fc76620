"""Reading ahead on a thread keeps the order, raises the reader's error, and stops when left."""

import threading
import time

import pytest

from streamliq.errors import InputError
from streamliq.sources.read_ahead import read_ahead


def test_items_arrive_in_order():
    assert list(read_ahead(iter(range(1000)), depth=3)) == list(range(1000))


def test_an_error_reaches_the_consumer_after_the_items_before_it():
    def items():
        yield 1
        yield 2
        raise InputError("day.csv.gz:7: price 'abc' is not a number")

    seen = []
    with pytest.raises(InputError, match=r"day.csv.gz:7: price 'abc'"):
        for item in read_ahead(items()):
            seen.append(item)
    assert seen == [1, 2]


def test_leaving_early_stops_the_reader_and_closes_its_source():
    closed = threading.Event()

    def endless():
        try:
            n = 0
            while True:
                n += 1
                yield n
        finally:
            closed.set()

    for item in read_ahead(endless(), depth=2):
        if item == 5:
            break
    assert closed.wait(2)
    deadline = time.monotonic() + 2
    while any(t.name == "streamliq-read" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(t.name == "streamliq-read" for t in threading.enumerate())
