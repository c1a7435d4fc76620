"""`streamliq replay --scheduler ADDRESS | --workers N`: the replay split into tasks of symbols on Dask."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, TextIO

from ..progress import ProgressBar
from ..tardis_replay import Replay, ReplayStats
from .common import summary_text

if TYPE_CHECKING:
    from ..partitioned.run import PartitionedReplay

EXIT_PARTS_FAILED = 3  # some symbols failed after their retries; the others were written


def add_cluster_arguments(p: argparse.ArgumentParser) -> None:
    """The Dask options of `streamliq replay`."""
    group = p.add_argument_group("distributed replay, tasks of many symbols (pip install 'streamliq[dask]')")
    where = group.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler, e.g. tcp://host:8786")
    where.add_argument("--workers", type=int, metavar="N", help="start a local Dask cluster of N processes")
    group.add_argument("--retries", type=int, default=2, metavar="N",
                       help="retries of a failed task before its symbols are reported; bad input is not "
                            "retried (default: %(default)s)")
    group.add_argument("--tasks", type=int, metavar="N",
                       help="replay tasks, symbols grouped by input size (default: 3 per worker thread, "
                            "at least one per 32 symbols)")


class SymbolProgress(ProgressBar):
    """The progress line of a partitioned replay: symbols replayed out of all."""

    def __init__(self, replay: PartitionedReplay, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self.replay = replay

    def describe(self, stats: ReplayStats) -> str:
        return f"{self.replay.replayed:,}/{len(self.replay.plans):,} symbols  {super().describe(stats)}"


def wanted(args: argparse.Namespace) -> bool:
    """Whether the arguments ask for a partitioned replay."""
    return bool(args.scheduler) or args.workers is not None


def run_partitioned(args: argparse.Namespace, selection: Replay) -> int:
    """Replay `selection` on a Dask cluster into a Parquet dataset; name the symbols that failed."""
    from ..partitioned.run import PartitionedReplay, dask_client

    replay = PartitionedReplay(selection, args.out, retries=args.retries, tasks=args.tasks)
    progress = replay.on_progress = None if args.quiet else SymbolProgress(replay)
    try:
        with dask_client(args.scheduler, args.workers) as client:
            replay.run(client)
    finally:
        if progress:
            progress.done(replay.stats)
    for failure in replay.failures:
        how = f"failed {args.retries + 1} times" if failure.retried else "bad input, not retried"
        print(f"streamliq replay: symbol {failure} ({how})", file=sys.stderr)
    if not args.quiet:
        print(summary_text(replay.stats, args.out), file=sys.stderr)
    if replay.failures:
        print(f"streamliq replay: {len(replay.failures)} symbol(s) failed: "
              f"{', '.join(f.name for f in replay.failures)}; the other symbols were written", file=sys.stderr)
        return EXIT_PARTS_FAILED
    return 0
