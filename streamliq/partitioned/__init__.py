"""Replay split by symbol and run on a Dask cluster, with the rows of the single-process replay.

Why by symbol: a symbol's bars, lookbacks and rolling windows flow through time, so one task
replays an `(exchange, symbol)` from its first file to its last. Symbols share nothing in the
engine except the clock, and the clock is what this package reproduces. A task replays many
symbols through one engine (`plan.balanced_tasks`: a few tasks per worker thread, of similar
input bytes), so its bars close in blocks across instruments as in the single process; a task
of one symbol is the special case, and what a failed task of several is run again as.

1. **Split** (`split.py`, one task per grouped file such as `..._PERPETUALS.csv.gz`): the file
   is read once, with the ordinary `TardisFileReader` (same checks, bad rows and skipped
   symbols as the single-process replay), into one Parquet file whose row groups each hold one
   instrument's events in file order. The returned index lets a task read only its symbols' rows.
2. **Run** (`worker.run_task`): the task's symbols' own files and pieces, day by day and merged
   by arrival exactly like `Replay` does, through a `BarEngine` of its own. Rows closed on the
   way go to each symbol's partitions. The engine stays in the worker's memory.
3. **Finish** (`worker.finish_task`): with every task's summary in hand the client knows the
   run's end (the largest arrival, and per frequency the last bar holding an event of any
   symbol), and each task closes its bars through that end.

The clock. In the single-process replay an event is late when the watermark it sees is at or
past its bar's end plus the lateness, and that watermark is the largest arrival seen across all
symbols. Files are read day by day; within a day the merge only ever feeds events that arrived
at or after the watermark, so the watermark an event sees is `max(arrival, H[day])`, where
`H[day]` is the largest arrival of every earlier day's events. A task sees `max(arrival, its
own H)`, which is the same unless one of its events arrived before another task's earlier-day
arrival (files named by another day than their arrivals). The client checks that per task and
day from the run summaries; the few tasks where it matters are replayed again in the finish
step with `H` as a floor on the watermark. The rows are therefore those of
the single-process replay, bit for bit (closing a bar earlier or later never changes its row).

What is assumed: the data folder and the output folder are visible to every worker under the
same path (one machine, or a shared filesystem), and every worker has streamliq installed.
A symbol's events of one channel on one day come from one file (its own file, or its rows of a
grouped file); a per-symbol file holding rows of another symbol is refused.
"""
