"""Who is looking at the dashboard, and what the role may see.

Under the hub (`orderscope serve`) every request reaches the dashboard with the signed-in
principal in the `X-Orderscope-Principal` header, set by the hub after authentication (a
header sent by the browser is dropped first). The stand-alone `orderscope dashboard` binds to
127.0.0.1 and has no users: its viewer is the local operator.
"""

from __future__ import annotations

from orderscope.domain.access import OPEN, Permission, Principal

HEADER = "X-Orderscope-Principal"

# The pages a permission opens; the order page is everyone's.
PAGE_NEEDS: dict[str, Permission] = {
    "/": Permission.ANALYTICS,
    "/drilldown": Permission.ANALYTICS,
    "/stalls": Permission.ANALYTICS,
    "/order": Permission.ORDERS,
}


def viewer() -> Principal:
    """The principal of the current request (the local operator outside a request)."""
    try:
        from flask import has_request_context, request
    except ImportError:  # pragma: no cover - dash always brings flask
        return OPEN
    if not has_request_context():
        return OPEN
    value = request.headers.get(HEADER)
    if not value:
        return OPEN
    name, _, role = value.rpartition(";")
    return Principal(name, role)


def may_open(path: str, who: Principal) -> bool:
    need = PAGE_NEEDS.get(path, Permission.ANALYTICS)
    return who.can(need)
