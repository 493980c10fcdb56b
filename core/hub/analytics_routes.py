"""The analytics over HTTP: the same parameters and JSON as the CLI commands."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1")
