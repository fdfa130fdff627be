"""`dagwright serve`: the pipelines marked `serve:` behind HTTP, on the in-process executor. Never imports prefect."""
