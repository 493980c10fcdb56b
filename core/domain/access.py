"""Roles, what each may do, and the masking of personal data: rules the hub's API and the
dashboard both enforce (no I/O here; authentication lives in orderscope.hub.access).

  manager  everything: reads, analytics, ingest, the pattern library;
  analyst  every read and analysis, nothing that writes; personal data masked;
  agent    order snapshot and search only; personal data (customer contact fields) masked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from orderscope.domain.sources import PERSONAL_FIELDS


class Permission(StrEnum):
    ORDERS = "orders"  # look an order up, search
    ANALYTICS = "analytics"  # stalls, flows, root cause, patterns, forecast, health, stats
    INGEST = "ingest"  # push records, keep or mine patterns, anything that writes
    PERSONAL = "personal"  # see personal data unmasked


ROLES: dict[str, frozenset[Permission]] = {
    "manager": frozenset(Permission),
    "analyst": frozenset({Permission.ORDERS, Permission.ANALYTICS}),
    "agent": frozenset({Permission.ORDERS}),
}
MASK = "•••"


@dataclass(frozen=True)
class Principal:
    """Who is asking: a configured user or token, or the local operator of an open hub."""

    name: str
    role: str

    def can(self, permission: Permission) -> bool:
        return permission in ROLES.get(self.role, frozenset())


OPEN = Principal("local", "manager")  # an open hub (no users, 127.0.0.1 only)


def mask(value: Any, principal: Principal) -> Any:
    """`value` (any JSON-like structure) with every personal field masked, unless the principal
    may see personal data. Fields are recognised by name wherever they occur (an order's
    columns, a linked record, an event, an analytics segment), so no output can forget one."""
    if principal.can(Permission.PERSONAL):
        return value
    return _mask(value, PERSONAL_FIELDS)


def _mask(value: Any, fields: frozenset[str]) -> Any:
    if isinstance(value, Mapping):
        return {k: (MASK if k in fields and v is not None else _mask(v, fields)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v, fields) for v in value]
    return value
