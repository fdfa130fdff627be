"""dagwright's engine: load pipelines.yaml, plan it, run it in process or as Prefect flows.

Only this package imports prefect, and only inside the modules that run or deploy flows.
"""

__version__ = "0.1.0"
