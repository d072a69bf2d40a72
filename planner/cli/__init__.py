"""The command line: ``python -m planner COMMAND``. Thin: it builds settings and clients at
the edge and hands them to the core; every command module registers itself on ``app``."""

from __future__ import annotations

from planner.cli.app import app, main

__all__ = ["app", "main"]
