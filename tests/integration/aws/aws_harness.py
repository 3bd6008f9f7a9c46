"""Harness for the aws_caller_info tests (a unique module name: tests/emulator imports its own `conftest`): emulators whose AWS STS calls are logged, and a
loopback HTTPS proxy that records where botocore wanted to go and forwards nothing.

Every run_module() subprocess gets HTTPS_PROXY/HTTP_PROXY pointing at that proxy (loopback
excepted through NO_PROXY), so a request meant for a real AWS endpoint ends at the proxy: it
records the CONNECT target and answers 403. Nothing leaves the machine, whatever the module does.
"""

from __future__ import annotations

import socket
import threading

from wif_emulator.server import EmulatorServer

SECRET = "caller-info-test-secret"
CONFIG = {
    "admin_tokens": ["admin"],
    "projects": [{"id": "wif-test", "number": "123456789012"}],
    "aws": {"credential_secret": SECRET, "accounts": [{"id": "111111111111", "roles": ["litellm-host"]}]},
}


class LoggedEmulator:
    """An in-process emulator plus the Host header and path of every AWS STS call it answered."""

    def __init__(self) -> None:
        self.server = EmulatorServer(CONFIG).start()
        self.sts_calls: list[dict[str, str]] = []
        app = self.server.app
        original = app.handle

        def logged(req):
            resp = original(req)
            if req.path == "/" and req.method == "POST":
                self.sts_calls.append({"host": req.headers.get("host", ""), "authorization": req.headers.get("authorization", ""),
                                       "status": str(resp.status)})
            return resp

        app.handle = logged

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def stop(self) -> None:
        self.server.stop()


class RecordingProxy:
    """Accepts CONNECT/absolute-URI requests on loopback, records the target, answers 403."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self._sock.getsockname()[1]

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _addr = self._sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                data = b""
                try:
                    while b"\r\n\r\n" not in data and len(data) < 65536:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    line = data.split(b"\r\n", 1)[0].decode("latin-1")
                    if line:
                        self.targets.append(line.split(" ")[1] if " " in line else line)
                    conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

