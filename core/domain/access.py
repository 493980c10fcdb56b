"""Roles, what each may do, and the masking of personal data: rules the hub's API and the
dashboard both enforce (no I/O here; authentication lives in orderscope.hub.access).

  manager  everything: reads, analytics, ingest, the pattern library;
  analyst  every read and analysis, nothing that writes; personal data masked;
  agent    order snapshot and search only; personal data (customer contact fields) masked.
"""

from __future__ import annotations

import re
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


# An event's actor of this role is the customer (who placed, paid, cancelled): its id is the
# customer's id, as personal as the customer_id field.
CUSTOMER_ACTOR_ROLE = "user"
_ACTOR_FIELDS = (("actor_id", "actor_role"), ("id", "role"))
_ID_PARTS = re.compile(r"([:|])")  # "<label>:<key>" node ids, "a|b" composite keys


def mask(value: Any, principal: Principal) -> Any:
    """`value` (any JSON-like structure) with every personal field masked, unless the principal
    may see personal data. Fields are recognised by name wherever they occur (an order's
    columns, a linked record, an event, an analytics segment), so no output can forget one;
    the value of a personal field is masked wherever else it occurs in `value` too (a customer's
    id as the actor of the events they made, in the id of a graph node), and so is the id of an
    actor whose role is the customer's."""
    if principal.can(Permission.PERSONAL):
        return value
    found: set[str] = set()
    _collect(value, PERSONAL_FIELDS, found)
    return _mask(value, PERSONAL_FIELDS, frozenset(found))


def _collect(value: Any, fields: frozenset[str], found: set[str]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            if k in fields and isinstance(v, str) and v:
                found.add(v)
            else:
                _collect(v, fields, found)
        for id_field, role_field in _ACTOR_FIELDS:
            actor = value.get(id_field)
            if value.get(role_field) == CUSTOMER_ACTOR_ROLE and isinstance(actor, str) and actor:
                found.add(actor)
    elif isinstance(value, list | tuple):
        for v in value:
            _collect(v, fields, found)


def _mask(value: Any, fields: frozenset[str], found: frozenset[str]) -> Any:
    if isinstance(value, Mapping):
        return {
            _text(k, found) if isinstance(k, str) else k: (
                MASK if k in fields and v is not None else _mask(v, fields, found)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_mask(v, fields, found) for v in value]
    if isinstance(value, str):
        return _text(value, found)
    return value


def _text(text: str, found: frozenset[str]) -> str:
    """`text`, masked when it is a personal value or names one as a part of an id."""
    if not found:
        return text
    if text in found:
        return MASK
    if ":" not in text and "|" not in text:
        return text
    parts = _ID_PARTS.split(text)
    return "".join(MASK if i % 2 == 0 and p in found else p for i, p in enumerate(parts))
