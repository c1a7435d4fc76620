"""Driving a partitioned replay from the client: split, run and finish tasks on a Dask cluster."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING

from ..engine.events import Instrument
from ..errors import InputError
from ..tardis_replay import Replay, ReplayStats
from .dataset import DatasetFolder, remove_parts
from .plan import SymbolPlan, symbol_plans
from .split import SPLIT_BLOCK_BYTES, SplitFile, split_grouped_file
from .worker import SymbolSummary, day_floors, finish_symbol, floors_needed, run_end, run_symbol

if TYPE_CHECKING:
    from distributed import Client, Future

@dataclass(frozen=True)
class Failure:
    """A symbol whose task still failed after its retries."""

    name: str
    error: BaseException

    def __str__(self) -> str:
        return f"{self.name}: {type(self.error).__name__}: {self.error}"


@contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None) -> Iterator[Client]:
    """A client of the scheduler at `scheduler`, or of a local cluster of `workers` processes."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError("a distributed replay needs Dask: pip install 'streamliq[dask]'") from None
    level = logging.getLogger().getEffectiveLevel()  # --log-level, not Dask's own INFO default
    logging.getLogger("distributed").setLevel(level)
    if scheduler:
        try:
            client = Client(scheduler)  # timeout: Dask's distributed.comm.timeouts.connect (30 s)
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        with client:
            yield client
        return
    if workers is None or workers < 1:
        raise InputError(f"--workers must be a whole number >= 1 (got {workers})")
    # the engine is pure Python and numpy: one thread per process scales, threads would not
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=level) as cluster, \
            Client(cluster) as client:
        yield client


class PartitionedReplay:
    """A replay of every symbol as its own Dask task, into a Parquet dataset at `out`."""

    def __init__(self, selection: Replay, out: str | Path, retries: int = 2,
                 on_progress: Callable[[ReplayStats], None] | None = None) -> None:
        """`selection` is the single-process replay this one splits: its files (under an absolute
        folder, so that workers find them), options and stats."""
        if retries < 0:
            raise InputError(f"--retries must be >= 0 (got {retries})")
        self.config = selection.config
        self.symbols = selection.symbols
        self.day_plans = selection.plans
        self.missing = selection.missing
        self.skip_bad_rows = selection.skip_bad_rows
        self.units = selection.units  # the spec table, --instruments included
        self.stats = selection.stats
        self.retries = retries
        self.on_progress = on_progress
        self.folder = DatasetFolder(out)
        self.plans: list[SymbolPlan] = []
        self.failures: list[Failure] = []
        self._token = uuid.uuid4().hex[:8]
        self._futures: list[Future] = []  # to cancel when the run stops

    def run(self, client: Client) -> None:
        """Run every task; failed symbols end up in `failures`, the others in the dataset."""
        self.folder.create()
        try:
            self.plans = symbol_plans(self.day_plans, self._split(client), self.missing)
            runs, summaries = self._run(client)
            self._finish(client, runs, summaries)
            self.folder.commit(self._description())
        except BaseException:
            client.cancel(self._futures)
            self.folder.abort()
            raise

    # -- the three steps --------------------------------------------------------------------
    def _split(self, client: Client) -> dict[Path, SplitFile]:
        """Split every grouped file once. Bad input there stops the run, as in a single replay."""
        futures = []
        for plan in self.day_plans:
            for item in plan.files:
                if item.grouped:
                    name = f"{len(futures):05d}-{item.path.name}"
                    futures.append(self._submit(client, f"split-{name}", split_grouped_file, item,
                                                str(self.folder.split_dir / f"{name}.parquet"), self.symbols,
                                                plan.skip_symbols.get(item.path, frozenset()), self.skip_bad_rows,
                                                SPLIT_BLOCK_BYTES, self.units))
        splits = client.gather(futures)
        for split in splits:
            self.stats.bad_rows.counts.update(split.bad_rows)
        return {split.source.path: split for split in splits}

    def _run(self, client: Client) -> tuple[dict[Instrument, Future], list[SymbolSummary]]:
        from distributed import as_completed

        runs, pending = {}, {}
        for plan in self.plans:  # each summary right after its run: tasks of equal priority run in this order
            run = runs[plan.instrument] = self._submit(client, f"run-{plan.key}", run_symbol, plan, self.config,
                                                       str(self.folder.tmp), self.skip_bad_rows, None,
                                                       self.units)
            pending[self._submit(client, f"summary-{plan.key}", attrgetter("summary"), run)] = plan
        summaries = []
        for future in as_completed(pending):
            plan = pending[future]
            if future.status == "error":
                self._fail(plan, future.exception())
                del runs[plan.instrument]
                continue
            summary = future.result()
            summaries.append(summary)
            stats = self.stats
            stats.events += summary.events
            stats.rows += summary.rows
            stats.bytes_done += plan.size
            for freq, count in summary.late_events.items():
                stats.late_events[freq] = stats.late_events.get(freq, 0) + count
            stats.bad_rows.counts.update(summary.bad_rows)
            if self.on_progress:
                self.on_progress(stats)
        return runs, summaries

    def _finish(self, client: Client, runs: dict[Instrument, Future], summaries: list[SymbolSummary]) -> None:
        from distributed import as_completed

        end = run_end(summaries)
        floors = day_floors(summaries)
        plans = {plan.instrument: plan for plan in self.plans}
        pending = {}
        for summary in summaries:
            plan = plans[summary.instrument]
            future = self._submit(client, f"finish-{plan.key}", finish_symbol, runs.pop(plan.instrument), plan,
                                  self.config, str(self.folder.tmp), self.skip_bad_rows, end,
                                  floors_needed(summary, floors), self.units)
            pending[future] = (plan, summary)
        self._futures = list(pending)  # the finish tasks hold the engines now; let the rest go
        for future in as_completed(pending):
            plan, summary = pending[future]
            if future.status == "error":
                self._fail(plan, future.exception())
                self.stats.rows -= summary.rows
                continue
            final = future.result()  # differs from `summary` when the symbol was replayed again
            self.stats.rows += final.rows - summary.rows
            for freq, count in final.late_events.items():
                self.stats.late_events[freq] += count - summary.late_events[freq]
            self.stats.symbols.add(plan.instrument)
            if self.on_progress:
                self.on_progress(self.stats)

    # -- helpers ----------------------------------------------------------------------------
    def _submit(self, client: Client, name: str, function: Callable, *args) -> Future:
        future = client.submit(function, *args, key=f"streamliq-{name}-{self._token}", retries=self.retries)
        self._futures.append(future)
        return future

    def _fail(self, plan: SymbolPlan, error: BaseException) -> None:
        self.failures.append(Failure(plan.name, error))
        remove_parts(self.folder.tmp, plan.instrument)

    def _description(self) -> dict:
        return {
            "format": "streamliq factor dataset",
            "partitioning": "hive: freq, symbol",
            "freqs": [freq.name for freq in self.config.freqs],
            "columns": self.config.columns(),
            "symbols": len(self.stats.symbols),
            "rows": self.stats.rows,
            "failed": [failure.name for failure in self.failures],
        }
