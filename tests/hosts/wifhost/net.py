"""The test network: bridge, firewall chain, nspawn tmpfs, per-instance namespaces, stale-run reaping."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import subprocess
import time
from pathlib import Path

from . import state
from .proc import cgroup_pids, is_mountpoint, nspawn_processes, pid_alive, run
from .state import (
    DEFAULT_BRIDGE,
    NSPAWN_RUN,
    NSPAWN_TMPFS_MARKER,
    TLS_PORT,
    WifHostError,
    inst_dir,
    instance_names,
    log,
    netns_path,
    read_json,
    veth_host,
    veth_peer,
    write_json,
)


def fw_chain(bridge: str) -> str:
    return f"KWIF-{bridge}"[:28]


def parse_host_addr(host_addr: str) -> ipaddress.IPv4Interface:
    try:
        iface = ipaddress.IPv4Interface(host_addr)
    except ValueError as exc:
        raise WifHostError(f"--host-addr {host_addr!r}: not an IPv4 address with prefix, e.g. 10.213.0.1/24") from exc
    if iface.network.prefixlen > 30 or not iface.ip.is_private or iface.ip.is_link_local:
        raise WifHostError(f"--host-addr {host_addr}: must be a private (RFC 1918) address in a /30 or larger net")
    return iface


def routes_overlapping(net: ipaddress.IPv4Network, bridge: str) -> list[str]:
    out = run(["ip", "-4", "-o", "route", "show", "table", "all"]).stdout.splitlines()
    hits = []
    for line in out:
        dest = line.split()[0]
        if dest in ("default", "broadcast", "local", "multicast", "unreachable") or f" dev {bridge} " in line + " ":
            continue
        with contextlib.suppress(ValueError):
            if ipaddress.IPv4Network(dest, strict=False).overlaps(net):
                hits.append(line)
    return hits


def disable_ipv6_host(ifname: str) -> None:
    # IPv6 link-local would give instances a path to host services; the tests are IPv4 only.
    p = Path(f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6")
    if p.exists():
        p.write_text("1")


def firewall_rules(bridge: str, port: int, tls_port: int = TLS_PORT) -> list[list[str]]:
    chain = fw_chain(bridge)
    return [
        ["-A", chain, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
        ["-A", chain, "-p", "tcp", "--dport", str(port), "-j", "ACCEPT"],
        ["-A", chain, "-p", "tcp", "--dport", str(tls_port), "-j", "ACCEPT"],   # the emulator's TLS listener
        ["-A", chain, "-p", "icmp", "-j", "ACCEPT"],
        # reject (not drop) so a forbidden connection fails at once instead of timing out
        ["-A", chain, "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"],
        ["-A", chain, "-j", "REJECT"],
    ]


def firewall_up(bridge: str, port: int) -> None:
    """Instances may reach the host only on the emulator's ports (and answer the host's SSH)."""
    chain = fw_chain(bridge)
    if run(["iptables", "-w", "5", "-n", "-L", chain], check=False).returncode != 0:
        run(["iptables", "-w", "5", "-N", chain])
    run(["iptables", "-w", "5", "-F", chain])
    for rule in firewall_rules(bridge, port):
        run(["iptables", "-w", "5", *rule])
    jump = ["INPUT", "-i", bridge, "-j", chain]
    if run(["iptables", "-w", "5", "-C", *jump], check=False).returncode != 0:
        run(["iptables", "-w", "5", "-I", *jump])


def firewall_down(bridge: str) -> None:
    chain = fw_chain(bridge)
    with contextlib.suppress(WifHostError):
        for _ in range(10):
            if run(["iptables", "-w", "5", "-D", "INPUT", "-i", bridge, "-j", chain], check=False).returncode:
                break
        if run(["iptables", "-w", "5", "-n", "-L", chain], check=False).returncode == 0:
            run(["iptables", "-w", "5", "-F", chain], check=False)
            run(["iptables", "-w", "5", "-X", chain], check=False)
        # chain name of earlier versions, shared by all bridges: removed once nothing jumps to it
        for _ in range(10):
            if run(["iptables", "-w", "5", "-D", "INPUT", "-i", bridge, "-j", "KWIF-IN"], check=False).returncode:
                break
        run(["iptables", "-w", "5", "-X", "KWIF-IN"], check=False)  # fails while another bridge uses it


def link_exists(ifname: str) -> bool:
    return Path("/sys/class/net", ifname).exists()


def net_meta() -> dict:
    return read_json(state.STATE_ROOT / "net.json")


def instance_running(name: str) -> bool:
    return bool(cgroup_pids(f"nspawn-{name}")) or pid_alive(read_json(inst_dir(name) / "instance.json").get("nspawn_pid"))


def reap_stale(starting: str | None = None) -> list[str]:
    """Removes what a killed run left behind: instances with no process left, then the network if
    nothing uses it any more. Never touches an instance or emulator that still runs, nor the
    instance being started."""
    from .instance import down_one  # instance.py imports this module: resolved here, at call time

    reaped = []
    for name in instance_names():
        if name != starting and not instance_running(name):
            log(f"removing leftovers of {name} (no process left)")
            down_one(name, 5)
            reaped.append(f"instance {name}")
    return reaped + gc_shared(starting)


def ensure_bridge(bridge: str, host_addr: str, emulator_port: int, firewall: bool, starting: str | None = None) -> dict:
    iface = parse_host_addr(host_addr)
    meta = net_meta()
    if meta and (meta.get("bridge") != bridge or meta.get("host_addr") != str(iface)) \
            and link_exists(meta.get("bridge", "")):
        reap_stale(starting)
        if link_exists(meta["bridge"]):
            users = [n for n in instance_names() if n != starting and instance_running(n)]
            if pid_alive(read_json(state.STATE_ROOT / "emulator.json").get("pid")):
                users.append("the emulator")
            raise WifHostError(f"test network already up as {meta['bridge']} {meta['host_addr']}, used by "
                               f"{', '.join(users) or 'nothing known'}; asked for {bridge} {iface} "
                               "(run `wifhost down --all` first)")
    if not link_exists(bridge):
        overlap = routes_overlapping(iface.network, bridge)
        if overlap:
            raise WifHostError(f"--host-addr {iface}: subnet {iface.network} collides with existing routes:\n"
                               + "\n".join(overlap) + "\nchoose another with --host-addr / KWIF_HOST_ADDR")
        log(f"creating bridge {bridge} {iface}")
        run(["ip", "link", "add", bridge, "type", "bridge"])
        disable_ipv6_host(bridge)
        run(["ip", "addr", "add", str(iface), "dev", bridge])
        run(["ip", "link", "set", bridge, "up"])
    elif str(iface) not in run(["ip", "-4", "-o", "addr", "show", "dev", bridge]).stdout:
        raise WifHostError(f"bridge {bridge} exists without address {iface}; it is not ours or was changed "
                           f"(remove it or pick --bridge)")
    meta = {"bridge": bridge, "host_addr": str(iface), "firewall": firewall, "emulator_port": emulator_port}
    if firewall:
        firewall_up(bridge, emulator_port)
    write_json(state.STATE_ROOT / "net.json", meta)
    return meta


def ensure_nspawn_tmpfs() -> None:
    # nspawn keeps per-machine propagation dirs there and expects a tmpfs (this host's /run is not).
    if is_mountpoint(NSPAWN_RUN):
        return
    NSPAWN_RUN.mkdir(parents=True, exist_ok=True)
    run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=16m", "kwif-nspawn", str(NSPAWN_RUN)])
    NSPAWN_TMPFS_MARKER.write_text("1\n")   # inside the tmpfs: whoever finds it knows it is ours


def gc_shared(starting: str | None = None) -> list[str]:
    """Removes the bridge, firewall and tmpfs once no instance (but the one being started) and no
    emulator uses them."""
    removed: list[str] = []
    if [n for n in instance_names() if n != starting] or pid_alive(read_json(state.STATE_ROOT / "emulator.json").get("pid")):
        return removed
    meta = net_meta()
    bridge = meta.get("bridge", DEFAULT_BRIDGE)
    firewall_down(bridge)
    if link_exists(bridge):
        run(["ip", "link", "del", bridge], check=False)
        removed.append(f"bridge {bridge}")
    (state.STATE_ROOT / "net.json").unlink(missing_ok=True)
    # The tmpfs is shared by every nspawn on the host (other state dirs too): only the last one out
    # unmounts it.
    legacy_marker = state.STATE_ROOT / "nspawn-tmpfs.ours"   # earlier versions kept the marker here
    ours = NSPAWN_TMPFS_MARKER.exists() or legacy_marker.exists()
    legacy_marker.unlink(missing_ok=True)
    if ours and is_mountpoint(NSPAWN_RUN) and not nspawn_processes():
        if run(["umount", str(NSPAWN_RUN)], check=False).returncode != 0:
            run(["umount", "-l", str(NSPAWN_RUN)], check=False)
        removed.append(f"tmpfs {NSPAWN_RUN}")
    return removed


def netns_exec(name: str, argv: list[str], **kw) -> subprocess.CompletedProcess:
    return run(["ip", "netns", "exec", name, *argv], **kw)


def setup_netns(name: str, ip: ipaddress.IPv4Interface, bridge: str) -> None:
    if netns_path(name).exists():
        raise WifHostError(f"network namespace {name} already exists (run `wifhost down {name}`)")
    run(["ip", "netns", "add", name])
    host_if, peer_if = veth_host(name), veth_peer(name)
    run(["ip", "link", "add", host_if, "type", "veth", "peer", "name", peer_if])
    disable_ipv6_host(host_if)
    run(["ip", "link", "set", host_if, "master", bridge])
    run(["ip", "link", "set", host_if, "up"])
    run(["ip", "link", "set", peer_if, "netns", name])
    netns_exec(name, ["sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6;"
                                  "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6"])
    netns_exec(name, ["ip", "link", "set", peer_if, "name", "eth0"])
    netns_exec(name, ["ip", "link", "set", "lo", "up"])
    # The instance's own metadata address: only this namespace has it, on its loopback.
    netns_exec(name, ["ip", "addr", "add", "169.254.169.254/32", "dev", "lo"])
    netns_exec(name, ["ip", "addr", "add", str(ip), "dev", "eth0"])
    netns_exec(name, ["ip", "link", "set", "eth0", "up"])
    routes = netns_exec(name, ["ip", "-4", "route", "show", "default"]).stdout.strip()
    if routes:
        raise WifHostError(f"namespace {name} unexpectedly has a default route: {routes}")


def wait_tcp_in_netns(name: str, host: str, port: int, timeout: float, alive) -> None:
    """Polls a listening socket from inside the instance's namespace (never from the host's)."""
    probe = ("import socket,sys\ns=socket.socket();s.settimeout(1)\n"
             f"sys.exit(s.connect_ex(({host!r},{port})))")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise WifHostError(f"process for {host}:{port} in namespace {name} exited")
        if netns_exec(name, ["python3", "-c", probe], check=False, timeout=10).returncode == 0:
            return
        time.sleep(0.2)
    raise WifHostError(f"nothing listens on {host}:{port} in namespace {name} after {timeout}s")


def wait_tcp(host: str, port: int, timeout: float, alive) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise WifHostError(f"process for {host}:{port} exited")
        with socket.socket() as s:
            s.settimeout(1)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    raise WifHostError(f"nothing listens on {host}:{port} after {timeout}s")
