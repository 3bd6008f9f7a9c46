#!/usr/bin/python3
"""Measurements of the proxy on a test host, printed as one JSON line.

  measure_proxy.py readiness UNIT URL   restart UNIT, seconds until URL answers 200
  measure_proxy.py memory MAIN_PID      RSS of MAIN_PID and all its descendants

The unit's own properties (MainPID, MemoryCurrent) come from ansible.builtin.systemd_service.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

READY_WITHIN = 240


def readiness(unit: str, url: str) -> dict:
    if not url.startswith(("http://", "https://")):
        raise SystemExit("URL %r: http(s) only" % url)
    start = time.monotonic()
    subprocess.run(["systemctl", "restart", unit], check=True)
    while time.monotonic() < start + READY_WITHIN:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - scheme checked above
                if answer.status == 200:
                    return {"readiness_s": round(time.monotonic() - start, 2)}
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("%s not ready after %d s" % (url, READY_WITHIN))


def process_tree(root: str) -> set[str]:
    """The process and all its descendants (works on cgroup v1, hybrid and v2)."""
    parent = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/stat" % pid) as stat:
                parent[pid] = stat.read().rsplit(")", 1)[1].split()[1]
        except OSError:
            pass
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo += [child for child, of in parent.items() if of == pid and child not in tree]
    return tree


def memory(main_pid: str) -> dict:
    if not main_pid.isdigit() or main_pid == "0":
        raise SystemExit("MainPID %r: the unit is not running" % main_pid)
    tree = process_tree(main_pid)
    rss_kib = 0
    for pid in tree:
        with open("/proc/%s/status" % pid) as status:
            rss_kib += sum(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return {"rss_mib": round(rss_kib / 1024, 1), "processes": len(tree)}


def main(argv: list[str]) -> int:
    if argv[:1] == ["readiness"] and len(argv) == 3:
        result = readiness(argv[1], argv[2])
    elif argv[:1] == ["memory"] and len(argv) == 2:
        result = memory(argv[1])
    else:
        raise SystemExit(__doc__)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
