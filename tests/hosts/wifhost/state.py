"""Paths, names and on-disk state of the test hosts: what every other module shares.

Other modules read `state.STATE_ROOT` at call time (never `from .state import STATE_ROOT`), so a
test can point the whole tool at a private state dir by patching this one name.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]   # tests/hosts/wifhost/state.py
CACHE_DIR = Path(os.environ.get("KWIF_CACHE_DIR", "/var/cache/keyless-wif"))
STATE_ROOT = Path(os.environ.get("KWIF_STATE_DIR", "/var/lib/keyless-wif"))
DEFAULT_BRIDGE = os.environ.get("KWIF_BRIDGE", "kwifbr0")
DEFAULT_HOST_ADDR = os.environ.get("KWIF_HOST_ADDR", "10.213.0.1/24")
DEFAULT_EMULATOR_PORT = 8470
# The emulator's TLS listener (same server): instances reach it under the real endpoint names.
TLS_PORT = 443
DEFAULT_PYTHON = os.environ.get("KWIF_PYTHON", str(REPO / ".venv" / "bin" / "python"))
EMULATOR_PATH = REPO / "emulator"
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
NSPAWN_RUN = Path("/run/systemd/nspawn")
# Several state dirs (KWIF_STATE_DIR) may run side by side with different bridges: names that
# are global on the host carry a tag of the state dir, the firewall chain the bridge's name.
STATE_TAG = hashlib.sha256(str(STATE_ROOT.resolve()).encode()).hexdigest()[:8]
EMULATOR_CGROUP = f"kwif-emulator-{STATE_TAG}"
NSPAWN_TMPFS_MARKER = NSPAWN_RUN / ".mounted-by-keyless-wif"


class WifHostError(Exception):
    """An error the user can act on; printed without a traceback."""


def log(msg: str) -> None:
    print(f"[wifhost] {msg}", file=sys.stderr, flush=True)


def require_root() -> None:
    if os.geteuid() != 0:
        raise WifHostError("wifhost must run as root (namespaces, mounts, cgroups, nspawn)")


@contextlib.contextmanager
def state_lock(timeout: float = 300) -> Iterator[None]:
    """Serialises changes to shared state (bridge, firewall, tmpfs) between wifhost runs."""
    STATE_ROOT.mkdir(parents=True, exist_ok=True)
    with open(STATE_ROOT / ".lock", "w") as fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise WifHostError(f"another wifhost holds {STATE_ROOT}/.lock for over {timeout}s") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise WifHostError(f"instance name {name!r}: must match {NAME_RE.pattern} (it names a netns and a cgroup)")
    return name


def short_id(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:8]


def veth_host(name: str) -> str:
    return f"kwh{short_id(name)}"   # interface names are limited to 15 characters


def veth_peer(name: str) -> str:
    return f"kwc{short_id(name)}"


def inst_dir(name: str) -> Path:
    return STATE_ROOT / "instances" / name


def netns_path(name: str) -> Path:
    return Path("/run/netns") / name


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.rename(path)


def write_file(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def instance_names() -> list[str]:
    d = STATE_ROOT / "instances"
    return sorted(p.name for p in d.iterdir() if p.is_dir()) if d.is_dir() else []
