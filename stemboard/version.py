"""stemboard's version, in a module of its own so that any part can read it without importing
the rest (the exporter does not load the runtime, ``stemboard --version`` loads nothing)."""

__version__ = "0.1.0"
