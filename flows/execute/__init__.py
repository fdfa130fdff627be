"""Execution: the stage runtime, resources' lifecycle, the result cache, gates, the in-process executor, reports."""
