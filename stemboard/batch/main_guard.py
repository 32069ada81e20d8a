"""The ``if __name__ == "__main__":`` a script needs around a local batch.

The local engine starts its workers with multiprocessing's *spawn* method: each worker is a
fresh Python that imports the script that started the batch again (as ``__mp_main__``). A
script that calls :func:`~stemboard.batch.run_batch` at its top level, unguarded, would start
the batch again in every worker; multiprocessing refuses that with a traceback per worker, and
every track ends "its worker process died". :func:`check_main_guarded` finds the case before any
worker starts and says what to write instead, in one line.

Example::

    if __name__ == "__main__":             # what a script that runs a batch needs
        report = run_batch(["music/"], "out/", stems="all", model="demo")
"""

from __future__ import annotations

import ast
import multiprocessing
import sys
import tokenize
from pathlib import Path
from types import FrameType, ModuleType

from stemboard.errors import StemboardError

GUARD = 'if __name__ == "__main__":'


class UnguardedMainError(StemboardError):
    """A script starts a local batch at its top level, outside ``if __name__ == "__main__":``."""


def _message(script: str) -> str:
    return (
        f"{script} starts the batch at its top level: the batch's worker processes import the "
        f"script again and would each start it anew. Put the call under `{GUARD}` (see the "
        "README's batch section)"
    )


def check_main_guarded() -> None:
    """Raise :class:`UnguardedMainError` when the running script calls this, through any
    chain of calls, from top-level code outside ``if __name__ == "__main__":``.

    In a worker process that is importing the script (where the call means the guard is
    missing), the worker ends at once with that line instead of a traceback. Code run with
    ``python -c``, in a notebook or an interpreter, or a package's ``__main__`` run with
    ``python -m``, is not imported again: nothing to check.
    """
    main = sys.modules.get("__main__")
    script = _imported_again(main)
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        importing = getattr(sys.modules.get("__mp_main__"), "__file__", None)  # the script
        sys.exit(f"stemboard: error: {_message(importing or 'the script')}")
    if script is None:
        return
    frame = _top_level_frame(main.__dict__)
    if frame is not None and not _guarded(script, frame.f_lineno):
        raise UnguardedMainError(_message(script))


def _imported_again(main: ModuleType | None) -> str | None:
    """The file of ``__main__`` when a spawned process imports it again, as multiprocessing
    decides it: a script, or a module run with ``-m`` (a package's ``__main__`` is not)."""
    file = getattr(main, "__file__", None)
    name = getattr(getattr(main, "__spec__", None), "name", None)
    if file is None or (name is not None and (name == "__main__" or name.endswith(".__main__"))):
        return None
    return None if Path(file).stem == "ipython" else file


def _top_level_frame(namespace: dict) -> FrameType | None:
    """The frame running the script's top-level code, if the call comes from there."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_globals is namespace and frame.f_code.co_name == "<module>":
            return frame
        frame = frame.f_back
    return None


def _guarded(script: str, line: int) -> bool:
    """Whether ``line`` of ``script`` lies in the body of an ``if __name__ == "__main__":``
    (True when the source cannot be read: nothing to say then)."""
    try:
        with tokenize.open(script) as file:
            tree = ast.parse(file.read(), script)
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return True
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_main_test(node.test):
            first, last = node.body[0].lineno, node.body[-1].end_lineno or node.body[-1].lineno
            if first <= line <= last:
                return True
    return False


def _is_main_test(test: ast.expr) -> bool:
    """``__name__ == "__main__"`` (either way round), alone or within a larger condition."""
    for node in ast.walk(test):
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq):
            sides = [node.left, *node.comparators]
            names = [s.id for s in sides if isinstance(s, ast.Name)]
            texts = [s.value for s in sides if isinstance(s, ast.Constant)]
            if names == ["__name__"] and texts == ["__main__"]:
                return True
    return False
