"""Catalogue jobs: ``stemboard batch`` over thousands of tracks, resumable, on one machine or Ray.

- :mod:`stemboard.batch.inputs` (and :mod:`~stemboard.batch.manifests`): the tracks that files,
  folders, globs and manifests name.
- :mod:`stemboard.batch.options`: what a user chooses, as checked records.
- :mod:`stemboard.batch.planning`: :func:`plan_batch`, everything checked before a track runs.
- :mod:`stemboard.batch.ledger` (and :mod:`~stemboard.batch.folder_lock`): the SQLite ledger of
  what is done, and the lock that keeps one run per output folder.
- :mod:`stemboard.batch.work`: what a worker does with a track (the single render path).
- :mod:`stemboard.batch.engines`, :mod:`~stemboard.batch.worker_process`,
  :mod:`~stemboard.batch.ray_engine`: the local worker processes and the Ray actors.
- :mod:`stemboard.batch.runner`: the driver, :func:`execute` and :func:`run_batch`.
- :mod:`stemboard.batch.report`: the report.

Names are imported on first use.
"""

from stemboard.lazy import lazy_exports

__all__ = ["BatchFailedError", "BatchOptions", "BatchReport", "execute", "plan_batch", "run_batch"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "BatchFailedError": "stemboard.batch.runner",
        "BatchOptions": "stemboard.batch.options",
        "BatchReport": "stemboard.batch.report",
        "execute": "stemboard.batch.runner",
        "plan_batch": "stemboard.batch.planning",
        "run_batch": "stemboard.batch.runner",
    },
)
