"""Run the app under uvicorn: `dagwright serve`."""

from __future__ import annotations

from flows.errors import ParamError
from flows.plan.planner import Plan


def serve(plans: dict[str, Plan], *, host: str, port: int) -> int:
    import uvicorn

    from flows.serve.app import create_app, served_plans

    served = served_plans(plans)
    if not served:
        raise ParamError("no pipeline is marked `serve: true` (or `serve: {chat: true}`); mark one to serve it")
    app = create_app(plans)
    if app.state.serve.keys.open:
        print("warning: no API keys (DAGWRIGHT_API_KEYS or DAGWRIGHT_API_KEYS_FILE): every caller is let in")
    print(f"serving {', '.join(served)} on http://{host}:{port} (API docs: /docs)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False)
    return 0
