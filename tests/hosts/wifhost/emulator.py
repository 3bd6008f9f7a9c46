"""The emulator server in the host namespace, on the bridge address (HTTP and TLS), in its own cgroup."""

from __future__ import annotations

import argparse
import json
import os
import signal
from pathlib import Path

from . import state
from .net import ensure_bridge, gc_shared, parse_host_addr, wait_tcp
from .proc import cgroup_kill, cgroup_pids, cgroup_remove, pid_alive, signal_pids, spawn_in_cgroup
from .state import DEFAULT_EMULATOR_PORT, EMULATOR_CGROUP, EMULATOR_PATH, TLS_PORT, WifHostError, read_json, require_root, state_lock, write_json
from .tls import ensure_sandbox_tls


def start_emulator(config: str, listen: str | None, state_file: str | None, python: str, bridge: str,
                   host_addr: str, firewall: bool, tls: bool = True) -> dict:
    if not Path(config).is_file():
        raise WifHostError(f"--config {config}: file not found")
    iface = parse_host_addr(host_addr)
    listen = listen or f"{iface.ip}:{DEFAULT_EMULATOR_PORT}"
    host, _, port_s = listen.rpartition(":")
    if not port_s.isdigit() or not host:
        raise WifHostError(f"--listen {listen!r}: expected HOST:PORT")
    if host not in (str(iface.ip), "127.0.0.1"):
        raise WifHostError(f"--listen {listen}: the emulator binds only to the bridge address {iface.ip} "
                           "or loopback (network rule)")
    # The same server also speaks TLS on port 443 of that address, for the real endpoint names.
    tls_listen = f"{host}:{TLS_PORT}" if tls else None
    current = read_json(state.STATE_ROOT / "emulator.json")
    if pid_alive(current.get("pid")):
        if current.get("listen") == listen and current.get("config") == str(Path(config).resolve()) \
                and current.get("tls_listen") == tls_listen:
            return current
        raise WifHostError(f"an emulator already runs at {current.get('listen')} "
                           f"(TLS: {current.get('tls_listen') or 'none'}; stop it first)")
    stop_emulator()
    ensure_bridge(bridge, host_addr, int(port_s), firewall)
    logfile = state.STATE_ROOT / "emulator.log"
    argv = [python, "-m", "wif_emulator", "serve", "--config", str(Path(config).resolve()), "--listen", listen]
    if state_file:   # the emulator's own state (not wifhost's state dir)
        argv += ["--state", state_file]
    certs = ensure_sandbox_tls() if tls else {}
    if tls:
        argv += ["--tls-listen", tls_listen, "--tls-cert", certs["server_cert"], "--tls-key", certs["server_key"]]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(EMULATOR_PATH),
           "PYTHONUNBUFFERED": "1", "LANG": "C.UTF-8"}
    pid = spawn_in_cgroup(argv, EMULATOR_CGROUP, logfile, env=env)
    meta = {"pid": pid, "listen": listen, "url": f"http://{listen}", "config": str(Path(config).resolve()),
            "log": str(logfile), "cgroup": EMULATOR_CGROUP, "tls_listen": tls_listen,
            "tls_url": f"https://{tls_listen}" if tls else None, "ca_cert": certs.get("ca_cert")}
    write_json(state.STATE_ROOT / "emulator.json", meta)
    try:
        wait_tcp(host, int(port_s), 20, lambda: pid_alive(pid))
        if tls:
            wait_tcp(host, TLS_PORT, 20, lambda: pid_alive(pid))
    except WifHostError as exc:
        tail = "\n".join(logfile.read_text(errors="replace").splitlines()[-20:])
        stop_emulator()
        raise WifHostError(f"emulator did not start: {exc}; log tail:\n{tail}") from None
    return meta


def stop_emulator() -> list[str]:
    done = []
    # the cgroup recorded at start (earlier versions used another name)
    group = read_json(state.STATE_ROOT / "emulator.json").get("cgroup", EMULATOR_CGROUP)
    if cgroup_pids(group):
        signal_pids(cgroup_pids(group), signal.SIGTERM)
        cgroup_kill(group, 5)
        done.append("emulator stopped")
    cgroup_remove(group)
    (state.STATE_ROOT / "emulator.json").unlink(missing_ok=True)
    return done


def cmd_emulator(args: argparse.Namespace) -> int:
    require_root()
    with state_lock():
        if args.action == "start":
            out = start_emulator(args.config, args.listen, args.state, args.python, args.bridge, args.host_addr,
                                 not args.no_firewall, tls=not args.no_tls)
        else:
            out = {"stopped": stop_emulator(), "shared": gc_shared()}
    print(json.dumps(out, indent=2))
    return 0
