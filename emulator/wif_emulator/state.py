"""The emulator's mutable state, its seed, and JSON persistence."""

from __future__ import annotations

import base64
import copy
import json
import os
import secrets
import tempfile
import time
from typing import Any

from .config import Config

STATE_VERSION = 1


def seed_state(config: Config) -> dict[str, Any]:
    """The state a fresh emulator starts from: the configured projects, nothing else."""
    now = time.time()
    projects: dict[str, Any] = {}
    for p in config.projects:
        projects[p.id] = {
            "id": p.id,
            "number": p.number,
            "create_time": now,
            "services": {s: "ENABLED" for s in p.services},
            "iam_policy": {"version": 1, "etag": "BwYAAAAAAAE=",
                           "bindings": [{"role": "roles/owner", "members": [p.owner]}]},
        }
    return {
        "version": STATE_VERSION,
        "projects": projects,
        "pools": {},
        "providers": {},
        "service_accounts": {},
        "operations": {},
        "tokens": {},
        "counters": {"etag": 1, "unique_id": 0},
    }


class State:
    """Holds the data dict. Callers hold the server lock while touching it."""

    def __init__(self, config: Config, state_file: str | None = None) -> None:
        self.config = config
        self.state_file = state_file
        self.data = seed_state(config)
        if state_file and os.path.exists(state_file):
            self.data = self._load(state_file)

    def _load(self, path: str) -> dict[str, Any]:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise ValueError(f"state file {path}: not an emulator state (version {STATE_VERSION})")
        # Projects added to the config since the state was written join the state.
        seed = seed_state(self.config)
        for pid, proj in seed["projects"].items():
            data["projects"].setdefault(pid, proj)
        return data

    def reset(self) -> None:
        self.data = seed_state(self.config)
        self.save()

    def save(self) -> None:
        """Write atomically (temp file + rename) so a crash never leaves half a state."""
        if not self.state_file:
            return
        directory = os.path.dirname(os.path.abspath(self.state_file))
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".state-", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self.data, fh, indent=1, sort_keys=True)
            os.replace(tmp, self.state_file)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def dump(self) -> dict[str, Any]:
        return copy.deepcopy(self.data)

    # --- helpers shared by the services ---------------------------------------------------

    def project(self, ref: str) -> dict[str, Any] | None:
        """Find a project by id or number."""
        projects = self.data["projects"]
        if ref in projects:
            return projects[ref]
        for proj in projects.values():
            if proj["number"] == ref:
                return proj
        return None

    def next_etag(self) -> str:
        self.data["counters"]["etag"] += 1
        raw = b"\x07\x06" + self.data["counters"]["etag"].to_bytes(6, "big")
        return base64.b64encode(raw).decode()

    def new_unique_id(self) -> str:
        # 21 digits like real service-account unique ids; random so ids never repeat.
        self.data["counters"]["unique_id"] += 1
        return "1" + "".join(secrets.choice("0123456789") for _ in range(20))
