"""The batch driver: plan a catalogue, skip what is done, hand the rest to an engine, record what
comes back in the ledger, stop cleanly, report.

Example::

    from stemboard.batch import run_batch

    if __name__ == "__main__":     # the local engine's workers import the script again
        report = run_batch(["music/"], "out/", preset="karaoke", model="demo")
        print(report.table())

Two steps, so that a command line can tell a usage error (exit 2) from failed tracks (exit 1):
:func:`~stemboard.batch.planning.plan_batch` checks everything that can be checked before any
track runs; :func:`execute` runs the plan, holding the output folder's lock (the ledger's).
:func:`run_batch` does both, and never lets a batch that rendered nothing look like success.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from stemboard.batch.engines import Engine, LocalEngine
from stemboard.batch.ledger import Ledger
from stemboard.batch.main_guard import check_main_guarded
from stemboard.batch.options import BatchOptions
from stemboard.batch.planning import BatchPlan, plan_batch
from stemboard.batch.ray_engine import RayEngine
from stemboard.batch.report import BatchReport
from stemboard.batch.run_state import BatchProgress, RunState, stop_on_signals
from stemboard.errors import StemboardError
from stemboard.node.backend import usable_cores

__all__ = ["BatchFailedError", "BatchProgress", "execute", "plan_batch", "run_batch"]


class BatchFailedError(StemboardError):
    """Every track of a batch failed: nothing was rendered. ``report`` is the batch's."""

    def __init__(self, report: BatchReport):
        failed = [track for track in report.tracks if track.status == "failed"]
        super().__init__(
            f"every track failed ({len(failed)}); the first, {failed[0].input}: {failed[0].error}"
        )
        self.report = report


def execute(
    plan: BatchPlan,
    ledger: Ledger,
    *,
    progress: Callable[[BatchProgress], None] | None = None,
) -> BatchReport:
    """Run the plan: skip what is done, render the rest, retry what a dead worker lost, until
    every track is through or SIGINT/SIGTERM stops the run (see ``BatchReport.interrupted``).
    ``ledger`` is the output folder's (:meth:`Ledger.open` holds its lock)."""
    if plan.engine == "local":
        check_main_guarded()
    run = RunState(plan, ledger, progress)
    run.sort_out()
    engine = None
    with stop_on_signals() as stop:
        try:
            if run.todo:
                engine = _engine(plan)
            run.show_progress()
            while run.unfinished and stop.signal is None:
                run.dispatch(engine, stop)
                for finished in engine.wait(timeout=0.2):
                    run.record(finished)
        finally:
            run.abandon(engine)
    return run.report(stop.signal)


def _engine(plan: BatchPlan) -> Engine:
    if plan.engine == "local":
        return LocalEngine(plan.work, plan.workers)
    gpus = plan.gpus_per_worker
    cpus = max(1.0, usable_cores() / plan.workers) if gpus == 0 else 1.0
    address = plan.options.address
    return RayEngine(plan.work, plan.workers, address=address, cpus=cpus, gpus=gpus)


def run_batch(
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    report: str | os.PathLike[str] | None = None,
    progress: Callable[[BatchProgress], None] | None = None,
    log: Callable[[str], None] = print,
    **options: Any,
) -> BatchReport:
    """Plan and run a batch; the :class:`~stemboard.batch.report.BatchReport` (also written as
    JSON to ``report``). ``options`` are :func:`~stemboard.batch.planning.plan_batch`'s.

    A script sees a batch that did not do its work: when every track failed it raises
    :class:`BatchFailedError` (with the report); when some failed, ``log`` says how many (see
    ``report.ok``); a run stopped by Ctrl-C raises ``KeyboardInterrupt`` and one stopped by
    SIGTERM ``SystemExit(143)``, once the batch has stopped cleanly. Call it under
    ``if __name__ == "__main__":`` in a script (see :mod:`stemboard.batch.main_guard`).
    """
    chosen = BatchOptions.of(**options)
    if chosen.engine == "local":
        check_main_guarded()  # before planning, which may export a model for minutes
    plan = plan_batch(inputs, out_dir, chosen, log=log)
    with Ledger.open(out_dir) as ledger:
        result = execute(plan, ledger, progress=progress)
    if report is not None:
        result.write_json(report)
    if result.interrupted == "SIGINT":
        raise KeyboardInterrupt
    if result.interrupted == "SIGTERM":
        raise SystemExit(143)
    failed = result.count("failed")
    if failed and failed == len(result.tracks):
        raise BatchFailedError(result)
    if failed:
        log(f"stemboard: {failed} of {len(result.tracks)} tracks failed (report.table() says why)")
    return result
