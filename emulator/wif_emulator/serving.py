"""Running an HTTP server in a thread: shared by the emulator, its IMDS and its container-credentials server."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def bind_http(host: str, port: int, handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """A threading server on HOST:PORT (IPv4 or IPv6 by the host's form); port 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET

    class _Server(ThreadingHTTPServer):
        address_family = family
        daemon_threads = True
        allow_reuse_address = True

    return _Server((host, port), handler)


def serve_in_thread(httpd: ThreadingHTTPServer, name: str) -> threading.Thread:
    # A short poll interval: shutdown() waits for the loop's next poll (0.5 s by default), which
    # every test that stops a server would pay.
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True)
    thread.start()
    return thread


def shut_down(httpd: ThreadingHTTPServer | None, thread: threading.Thread | None, join_timeout: float = 5) -> None:
    if httpd is not None:
        httpd.shutdown()
        httpd.server_close()
    if thread is not None:
        thread.join(timeout=join_timeout)
