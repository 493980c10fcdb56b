"""The hub's listening socket: connections it accepts send small writes at once (TCP_NODELAY),
or every response would wait for the client's delayed ACK (~40 ms on loopback)."""

from __future__ import annotations

import socket

from orderscope.hub.server import _listen


def test_accepted_connections_do_not_wait_for_delayed_acks() -> None:
    listener = _listen("127.0.0.1", 0)
    try:
        assert listener.proto == socket.IPPROTO_TCP  # asyncio sets TCP_NODELAY on such sockets
        client = socket.create_connection(listener.getsockname())
        accepted, _ = listener.accept()
        try:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        finally:
            accepted.close()
            client.close()
    finally:
        listener.close()
