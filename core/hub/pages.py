"""Signing in to the dashboard, and the gate in front of it.

The dashboard is a WSGI (Flask) app mounted under the hub; `DashboardGate` lets a request
through only with a principal (a session cookie from /login, or an Authorization header), and
hands the principal on in a header the browser cannot forge (any such header it sends is dropped
first). Without users configured the hub is open and everyone is the local operator.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from orderscope.dashboard.viewer import HEADER
from orderscope.hub.context import SESSION_COOKIE, SESSION_SECONDS, Hub

_FORM = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>orderscope · sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font-family:system-ui,sans-serif;background:#f4f6f8;display:flex;justify-content:center;padding-top:12vh}}
form{{background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002;min-width:18rem}}
label{{display:block;margin:.6rem 0 .2rem}} input{{width:100%;padding:.45rem;box-sizing:border-box}}
button{{margin-top:1rem;width:100%;padding:.5rem;background:#212529;color:#fff;border:0;border-radius:4px}}
.error{{color:#b02a37}}
</style></head><body>
<form method="post" action="/login">
<h1 style="font-size:1.3rem">order<b>scope</b></h1>
{error}
<input type="hidden" name="next" value="{next}">
<label for="name">Name</label><input id="name" name="name" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" id="sign-in">Sign in</button>
</form></body></html>"""


def _safe_next(target: str | None) -> str:
    """Only a path on this hub (no scheme, no host): a login must not redirect elsewhere.
    Browsers read a backslash as a slash, so `/\\evil.example` is another host too."""
    target = target or "/"
    if "\\" in target or any(ord(c) < 0x20 for c in target):
        return "/"
    parts = urlsplit(target)
    path = parts.path or "/"
    if parts.scheme or parts.netloc or not path.startswith("/") or path.startswith("//"):
        return "/"
    return path + (f"?{parts.query}" if parts.query else "")


def install(app: FastAPI) -> None:
    @app.get("/login", include_in_schema=False)
    def login_form(next: str = "/") -> HTMLResponse:
        return HTMLResponse(_FORM.format(error="", next=html.escape(_safe_next(next))))

    @app.post("/login", include_in_schema=False)
    def login(
        request: Request,
        name: str = Form(max_length=200),
        password: str = Form(max_length=1000),
        next: str = Form(default="/", max_length=2000),
    ) -> Response:
        hub: Hub = request.app.state.hub
        who = hub.access.password(name, password)
        if who is None:
            page = _FORM.format(
                error='<p class="error" id="sign-in-error">Wrong name or password.</p>',
                next=html.escape(_safe_next(next)),
            )
            return HTMLResponse(page, status_code=401)
        response = RedirectResponse(_safe_next(next), status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            hub.sign_in(who),
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="lax",
        )
        return response

    @app.get("/logout", include_in_schema=False)
    def logout() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response


class DashboardGate:
    """ASGI middleware in front of the mounted dashboard."""

    def __init__(self, app: ASGIApp, hub: Hub) -> None:
        self.app = app
        self.hub = hub
        self.header = HEADER.lower().encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        who = self.hub.authenticate(HTTPConnection(scope))
        if who is None:
            await self._refuse(scope, receive, send)
            return
        # Dropped in every spelling WSGI would read as the same header (`X_Orderscope_Principal`
        # becomes HTTP_X_ORDERSCOPE_PRINCIPAL as well).
        headers = [
            (k, v) for k, v in scope.get("headers", []) if k.lower().replace(b"_", b"-") != self.header
        ]
        headers.append((self.header, f"{who.name};{who.role}".encode()))
        await self.app(dict(scope, headers=headers), receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "/")
        response: Any
        if scope.get("method") == "GET" and not path.startswith("/_dash"):
            query = scope.get("query_string", b"").decode()
            target = path + (f"?{query}" if query else "")
            response = RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        else:
            response = Response(
                '{"error":"unauthorized","detail":"sign in at /login"}', 401, media_type="application/json"
            )
        await response(scope, receive, send)
