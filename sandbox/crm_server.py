"""The sandbox CRM's socket side: a threaded HTTPS server on 127.0.0.1 that hands every request
to the app (:class:`sandbox.crm_api.CrmApp`).

The TLS handshake happens in the request thread, not in ``accept()``, so a slow or broken client
cannot stall the server; request logging is off because URLs can hold record keys.
"""

from __future__ import annotations

import ssl
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol


class HandlesRequests(Protocol):
    def handle(self, h: BaseHTTPRequestHandler) -> None: ...


class CrmRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120

    def _do(self) -> None:
        self.server.app.handle(self)  # type: ignore[attr-defined]

    do_GET = do_POST = do_PATCH = do_DELETE = _do

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: logs would hold URLs
        return


class TlsHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, app: HandlesRequests, context: ssl.SSLContext):
        super().__init__(addr, CrmRequestHandler)
        self.app = app
        self.context = context

    def get_request(self):
        sock, addr = self.socket.accept()
        # TLS handshake happens in the request thread, so a slow client cannot stall accept().
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def finish_request(self, request, client_address) -> None:
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError):
            return
        super().finish_request(request, client_address)
