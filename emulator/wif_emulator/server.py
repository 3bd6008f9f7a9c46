"""HTTP front end: EmulatorServer (ThreadingHTTPServer) around the App core."""

from __future__ import annotations

import socket
import ssl
import sys
import threading
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .app import App, Request, Response, json_response
from .aws import web_identity
from .config import Config, load_config
from .errors import GoogleError
from .routes import all_routes
from .serving import serve_in_thread, shut_down

MAX_BODY = 10 * 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections as with Google
    server_version = "ESF"
    sys_version = ""
    app: App
    log_requests = False
    scheme = "http"  # "https" on the TLS listener

    def setup(self) -> None:
        super().setup()
        # Answers go out as one segment; without NODELAY, Nagle + delayed ACK add ~40 ms per
        # keep-alive response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        if self.log_requests:
            sys.stderr.write("wif-emulator: " + (format % args) + "\n")

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
                if len(out) > MAX_BODY:
                    return None
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return None
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        body = self._read_body()
        if body is None:
            self._send(json_response(GoogleError(413, "Request body too large.",
                                                 "INVALID_ARGUMENT").body(), 413))
            self.close_connection = True
            return
        split = urllib.parse.urlsplit(self.path)
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        host = headers.get("host", f"{self.server.server_address[0]}:{self.server.server_address[1]}")
        req = Request(
            method=self.command,
            path=urllib.parse.unquote(split.path) or "/",
            raw_path=self.path,
            query=urllib.parse.parse_qs(split.query, keep_blank_values=True),
            headers=headers,
            body=body,
            url=f"{self.scheme}://{host}{self.path}",
        )
        try:
            resp = self.app.handle(req)
        except Exception as exc:  # a bug must still answer in Google's shape, and be visible
            sys.stderr.write(f"wif-emulator: internal error on {self.command} {self.path}: {exc!r}\n")
            traceback.print_exc()
            resp = json_response(GoogleError(500, "Internal error encountered.").body(), 500)
        if resp.reset_connection:
            self._reset_connection()
            return
        self._send(resp)

    def _reset_connection(self) -> None:
        """No answer at all (fault commit_then_fail "reset"): linger 0 makes the close a TCP RST."""
        linger_off_now = (1).to_bytes(4, sys.byteorder) + (0).to_bytes(4, sys.byteorder)  # struct linger {1, 0}
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger_off_now)
        self.close_connection = True
        self.connection.close()  # the descriptor closes (RST) once finish() drops rfile

    def _send(self, resp: Response) -> None:
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        for k, v in resp.headers.items():
            self.send_header(k, v)
        # Headers and body in one write (end_headers would flush the headers alone).
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(resp.body)
        self.wfile.write(b"".join(self._headers_buffer))
        self._headers_buffer = []

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


# A client that connects and never finishes the handshake must not hold its thread forever.
TLS_HANDSHAKE_TIMEOUT = 10.0


def tls_server_context(certfile: str | Path, keyfile: str | Path) -> ssl.SSLContext:
    """Server-side context for the TLS listener: TLS 1.2+, HTTP/1.1. Raises OSError/ssl.SSLError."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["http/1.1"])
    ctx.load_cert_chain(str(certfile), str(keyfile))
    return ctx


class _TLSServer(_Server):
    """Same handler over TLS. The handshake runs in the connection's own thread, not in accept."""

    ssl_context: ssl.SSLContext

    def finish_request(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        request.settimeout(TLS_HANDSHAKE_TIMEOUT)
        try:
            conn = self.ssl_context.wrap_socket(request, server_side=True)
        except OSError:
            return  # failed handshake (wrong CA, plain HTTP, reset): the client sees the error
        conn.settimeout(None)
        try:
            super().finish_request(conn, client_address)
        finally:
            self.shutdown_request(conn)

    def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        if not isinstance(sys.exc_info()[1], (ssl.SSLError, ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class EmulatorServer:
    """The whole emulator on one base URL. Use start()/stop() or a with-block.

    With ``tls_listen=(HOST, PORT)`` and ``tls_context`` (see tls_server_context) the same App
    also answers HTTPS there (``tls_base_url``), next to the plain listener.
    """

    def __init__(self, config: Config | dict[str, Any] | str | Path, host: str = "127.0.0.1",
                 port: int = 0, state_file: str | None = None, log_requests: bool = False,
                 tls_listen: tuple[str, int] | None = None, tls_context: ssl.SSLContext | None = None) -> None:
        self.config = config if isinstance(config, Config) else load_config(config)
        self.app = App(self.config, all_routes(), state_file)
        self.host = host
        self.port = port
        self.log_requests = log_requests
        if (tls_listen is None) != (tls_context is None):
            raise ValueError("tls_listen and tls_context go together")
        self.tls_host, self.tls_port = tls_listen if tls_listen else ("", 0)
        self.tls_context = tls_context
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._tls_httpd: _TLSServer | None = None
        self._tls_thread: threading.Thread | None = None

    def start(self) -> EmulatorServer:
        handler = type("Handler", (_Handler,), {"app": self.app, "log_requests": self.log_requests})
        self._httpd = _Server((self.host, self.port), handler)
        self.port = self._httpd.server_address[1]
        if self.tls_context is not None:
            tls_handler = type("TLSHandler", (handler,), {"scheme": "https"})
            try:
                self._tls_httpd = _TLSServer((self.tls_host, self.tls_port), tls_handler)
            except OSError as exc:
                self._httpd.server_close()
                self._httpd = None
                raise OSError(exc.errno, f"{exc.strerror} (TLS listener {self.tls_host}:{self.tls_port})") from exc
            self._tls_httpd.ssl_context = self.tls_context
            self.tls_port = self._tls_httpd.server_address[1]
            self._tls_thread = serve_in_thread(self._tls_httpd, "wif-emulator-tls")
        self._thread = serve_in_thread(self._httpd, "wif-emulator")
        if self.config.oidc_providers:
            # Deriving the OIDC signing key takes about a second: do it before the first token is asked for.
            threading.Thread(target=web_identity.trusted_key, args=(self.config.credential_secret,), name="wif-emulator-oidc-key",
                             daemon=True).start()
        return self

    def stop(self) -> None:
        shut_down(self._tls_httpd, self._tls_thread)
        self._tls_httpd = self._tls_thread = None
        shut_down(self._httpd, self._thread)
        self._httpd = self._thread = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def tls_base_url(self) -> str | None:
        """``https://HOST:PORT`` of the TLS listener, None without one."""
        if self.tls_context is None:
            return None
        host = f"[{self.tls_host}]" if ":" in self.tls_host else self.tls_host
        return f"https://{host}:{self.tls_port}"

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
