"""The ``stemboard`` command line, one module per command.

- :mod:`stemboard.cli.app`: the parser, and where errors become one line and an exit status.
- :mod:`stemboard.cli.node_options`: the separator node's options, shared by the commands.
- :mod:`stemboard.cli.options`, :mod:`stemboard.cli.output`: other shared options; messages
  and progress bars.
- :mod:`stemboard.cli.tracks`: a list of inputs through one render job (separate, render).
- one module per command: ``export``, ``separate``, ``render``, ``batch``, ``presets``,
  ``evaluate``, ``demo``, ``studio``.

The commands only translate options into calls of the library and its answers into lines;
what they do lives in the library (:mod:`stemboard.render`, :mod:`stemboard.graph.presets`,
:mod:`stemboard.models`, :mod:`stemboard.batch`, ...).
"""

from stemboard.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
