"""The artifacts a Prefect flow run published, read back from the server."""

from __future__ import annotations

from typing import Any


def flow_run_artifacts(state: Any) -> list[Any]:
    """Every artifact of the flow run that ended in ``state``."""
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        run = ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
        return client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=run))
