"""Read ahead: run an iterator on a background thread, a few items ahead of its consumer.

A replay reads and parses the next stretch of its files (gzip, CSV: pyarrow releases the GIL)
while the engine closes the bars of the last one, so a machine's second core is not idle
while the first waits for input. An error raised while reading reaches the consumer at the
item where it happened, with its original type and message.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_POLL_SECONDS = 0.1  # how often a blocked reader checks whether its consumer has gone


def read_ahead(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Yield `items`, produced on a thread at most `depth` items ahead.

    Leaving the loop early (an error, `break`) stops the thread after the item it is reading.
    """
    ready: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(kind: str, value: object) -> bool:
        while not stop.is_set():
            try:
                ready.put((kind, value), timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not put("item", item):
                    return
            put("end", None)
        except BaseException as exc:  # handed to the consumer, raised there
            put("error", exc)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="streamliq-read", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = ready.get()
            if kind == "item":
                yield value
            elif kind == "end":
                return
            else:
                raise value
    finally:
        stop.set()
        thread.join()
