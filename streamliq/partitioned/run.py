"""Driving a partitioned replay from the client: split, run and finish tasks on a Dask cluster."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError
from ..tardis_replay import Replay, ReplayStats
from .dataset import DatasetFolder, remove_parts
from .plan import SymbolPlan, TaskPlan, balanced_tasks, single_task, symbol_plans
from .split import SPLIT_BLOCK_BYTES, SplitFile, split_grouped_file
from .worker import (
    TaskSummary,
    day_floors,
    finish_task,
    floors_needed,
    input_errors_returned,
    run_end,
    run_task,
    summary_of,
)

if TYPE_CHECKING:
    from distributed import Client, Future

TASKS_PER_THREAD = 3  # replay tasks per worker thread: few enough for block closes, enough to balance
# ... and at most this many symbols a task: merging a day's streams costs more than linearly in
# their number (400 symbols x 1 day at 1h on 2 workers: 16.6 s in 6 tasks, 12.0 s in 12 to 48)
SYMBOLS_PER_TASK = 32


@dataclass(frozen=True)
class Failure:
    """A symbol that could not be replayed: bad input (not retried), or an error after retries."""

    name: str
    error: BaseException

    @property
    def retried(self) -> bool:
        return not isinstance(self.error, InputError)

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
    # no dashboard; the scheduler's HTTP server (always started) on a free local port, not on 8787,
    # which another cluster may hold (a warning on stderr otherwise)
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}, silence_logs=level) as cluster, \
            Client(cluster) as client:
        yield client


class PartitionedReplay:
    """A replay on a Dask cluster into a Parquet dataset at `out`: symbols grouped into tasks of
    similar input size, each task replaying its symbols through one engine."""

    def __init__(self, selection: Replay, out: str | Path, retries: int = 2,
                 on_progress: Callable[[ReplayStats], None] | None = None, tasks: int | None = None) -> None:
        """`selection` is the single-process replay this one splits: its files (under an absolute
        folder, so that workers find them), options and stats. `tasks`: how many replay tasks
        (default `TASKS_PER_THREAD` per worker thread of the cluster)."""
        if retries < 0:
            raise InputError(f"--retries must be >= 0 (got {retries})")
        if tasks is not None and tasks < 1:
            raise InputError(f"--tasks must be a whole number >= 1 (got {tasks})")
        self.config = selection.config
        self.symbols = selection.symbols
        self.day_plans = selection.plans
        self.missing = selection.missing
        self.skip_bad_rows = selection.skip_bad_rows
        self.units = selection.units  # the spec table, --instruments included
        self.stats = selection.stats
        self.retries = retries
        self.tasks = tasks
        self.on_progress = on_progress
        self.folder = DatasetFolder(out)
        self.plans: list[SymbolPlan] = []
        self.replayed = 0  # symbols whose replay task is done (the progress line's count)
        self.failures: list[Failure] = []
        self._token = uuid.uuid4().hex[:8]
        self._futures: list[Future] = []  # to cancel when the run stops

    def run(self, client: Client) -> None:
        """Run every task; failed symbols end up in `failures`, the others in the dataset."""
        self.folder.create()
        try:
            self.plans = symbol_plans(self.day_plans, self._split(client), self.missing)
            count = self.tasks or max(TASKS_PER_THREAD * max(1, sum(client.nthreads().values())),
                                      -(-len(self.plans) // SYMBOLS_PER_TASK))
            self._finish(client, self._run(client, balanced_tasks(self.plans, count)))
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
                    futures.append(self._submit(client, f"split-{name}", input_errors_returned(split_grouped_file),
                                                item, str(self.folder.split_dir / f"{name}.parquet"), self.symbols,
                                                plan.skip_symbols.get(item.path, frozenset()), self.skip_bad_rows,
                                                SPLIT_BLOCK_BYTES, self.units))
        splits = client.gather(futures)
        for split in splits:
            if isinstance(split, InputError):
                raise split
            self.stats.bad_rows.counts.update(split.bad_rows)
        return {split.source.path: split for split in splits}

    def _run(self, client: Client, tasks: list[TaskPlan]) -> list[tuple[TaskPlan, Future, TaskSummary]]:
        """Replay every task (largest first). A task of several symbols that fails is run again
        symbol by symbol, so that only the failing symbols are lost and each is named."""
        from distributed import as_completed

        runs: dict[str, Future] = {}
        pending: dict[Future, TaskPlan] = {}
        done = as_completed()

        def submit(task: TaskPlan) -> None:
            run = self._submit(client, f"run-{task.key}", input_errors_returned(run_task), task, self.config,
                               str(self.folder.tmp), self.skip_bad_rows, None, self.units)
            runs[task.key] = run
            summary = self._submit(client, f"summary-{task.key}", summary_of, run)
            pending[summary] = task
            done.add(summary)

        for task in tasks:  # each summary right after its run: tasks of equal priority run in this order
            submit(task)
        replayed = []
        for future in done:
            task = pending.pop(future)
            error = future.exception() if future.status == "error" else None
            summary = future.result() if error is None else None
            if isinstance(summary, InputError):
                error = summary
            if error is not None:
                del runs[task.key]
                if len(task.symbols) > 1:
                    for plan in task.symbols:
                        submit(single_task(plan))
                else:
                    self._fail(task, error)
                continue
            replayed.append((task, runs.pop(task.key), summary))
            self._count(task, summary)
        return replayed

    def _count(self, task: TaskPlan, summary: TaskSummary) -> None:
        stats = self.stats
        stats.events += summary.events
        stats.rows += summary.rows
        stats.bytes_done += task.size
        for freq, count in summary.late_events.items():
            stats.late_events[freq] = stats.late_events.get(freq, 0) + count
        stats.bad_rows.counts.update(summary.bad_rows)
        self.replayed += len(task.symbols)
        if self.on_progress:
            self.on_progress(stats)

    def _finish(self, client: Client, replayed: list[tuple[TaskPlan, Future, TaskSummary]]) -> None:
        from distributed import as_completed

        summaries = [summary for _, _, summary in replayed]
        end = run_end(summaries)
        floors = day_floors(summaries)
        pending = {}
        for task, run, summary in replayed:
            future = self._submit(client, f"finish-{task.key}", finish_task, run, task,
                                  self.config, str(self.folder.tmp), self.skip_bad_rows, end,
                                  floors_needed(summary, floors), self.units)
            pending[future] = (task, summary)
        self._futures = list(pending)  # the finish tasks hold the engines now; let the rest go
        for future in as_completed(pending):
            task, summary = pending[future]
            if future.status == "error":
                self._fail(task, future.exception())
                self.stats.rows -= summary.rows
                continue
            final = future.result()  # differs from `summary` when the task was replayed again
            self.stats.rows += final.rows - summary.rows
            for freq, count in final.late_events.items():
                self.stats.late_events[freq] += count - summary.late_events[freq]
            self.stats.symbols.update(task.instruments)
            if self.on_progress:
                self.on_progress(self.stats)

    # -- helpers ----------------------------------------------------------------------------
    def _submit(self, client: Client, name: str, function: Callable, *args) -> Future:
        future = client.submit(function, *args, key=f"streamliq-{name}-{self._token}", retries=self.retries)
        self._futures.append(future)
        return future

    def _fail(self, task: TaskPlan, error: BaseException) -> None:
        for plan in task.symbols:
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
