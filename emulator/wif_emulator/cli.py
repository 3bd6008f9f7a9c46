"""What the two command-line entry points (serve, imds) share: --listen parsing and the
run-until-SIGTERM loop."""

from __future__ import annotations

import argparse
import ipaddress
import signal
import sys
import threading
from typing import Any, Protocol


class _Server(Protocol):
    base_url: str

    def start(self) -> Any: ...

    def stop(self) -> None: ...


def parse_listen(value: str) -> tuple[str, int]:
    """argparse type for --listen HOST:PORT (HOST an IP address, IPv6 may be bracketed)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"--listen must be HOST:PORT, got {value!r}")
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--listen: HOST must be an IP address, got {host!r}") from None
    return host, int(port)


def serve_until_signalled(server: _Server, name: str, listen: tuple[str, int], banner: str | None = None) -> int:
    """Start ``server``, print its banner (default: its base URL), then its ``tls_base_url`` on a
    second line if it has one, run until SIGTERM/SIGINT.

    Returns the process exit code: 1 when the address cannot be bound, 0 after a clean stop.
    """
    stop = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        server.start()
    except OSError as exc:
        sys.stderr.write(f"{name}: cannot listen on {listen[0]}:{listen[1]}: {exc.strerror}\n")
        return 1
    print(banner.format(base_url=server.base_url) if banner else server.base_url, flush=True)
    tls_url = getattr(server, "tls_base_url", None)
    if tls_url:  # second line: the TLS listener of the same server
        print(tls_url, flush=True)
    while not stop.wait(0.2):
        pass
    server.stop()
    return 0
