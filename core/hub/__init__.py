"""The hub (`orderscope serve`): one long-running process that owns the stores and serves the
HTTP API, the dashboard and live ingest (an inbox folder), with users, tokens and roles.

- `server`: start it (binding rules, ownership of an embedded data dir, uvicorn).
- `api`: the FastAPI application (versioned under /api/v1; OpenAPI at /openapi.json).
- `access`: users, tokens, roles and the masking of personal data.
- `inbox`: the watched folder (a dropped file is ingested once, then moved to done/ or failed/).
- `telemetry`: Prometheus metrics.
(`orderscope.ownership` records which hub owns an embedded data dir, so other commands go
through it instead of meeting a lock.)
"""
