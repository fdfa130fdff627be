"""The `dagwright` command line: the top layer, which may use every other."""

from flows.cli.main import main

__all__ = ["main"]
