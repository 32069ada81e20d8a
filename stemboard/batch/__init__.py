"""Catalogue jobs: ``stemboard batch`` over thousands of tracks, resumable, on one machine or Ray.

- :mod:`stemboard.batch.inputs`: the tracks that files, folders, globs and manifests name.
- :mod:`stemboard.batch.ledger`: the SQLite ledger of what is done.
- :mod:`stemboard.batch.work`: what a worker does with a track (the single render path).
- :mod:`stemboard.batch.engines`: the local process pool and the Ray actors.
- :mod:`stemboard.batch.runner`: the driver, :func:`run_batch`.
- :mod:`stemboard.batch.report`: the report.

Names are imported on first use.
"""

from stemboard.lazy import lazy_exports

__all__ = ["BatchReport", "plan_batch", "run_batch"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "BatchReport": "stemboard.batch.report",
        "plan_batch": "stemboard.batch.runner",
        "run_batch": "stemboard.batch.runner",
    },
)
