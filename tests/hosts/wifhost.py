#!/usr/bin/env python3
"""EC2-like test hosts for keyless.wif: systemd-nspawn containers on a private bridge.

Each instance is a Debian 12 container booted by systemd-nspawn from a cached debootstrap
image through its own overlay root. It lives in its own network namespace (veth on a test
bridge, own IP, no default route) and has the emulator's metadata server answering on
169.254.169.254:80 inside that namespace only. Its /etc/hosts points the real Google and AWS
endpoint names at the emulator's TLS listener on the bridge, and its system CA store trusts the
machine's sandbox CA. See docs/test-hosts.md.

Stdlib only (the `cryptography` package is used for the sandbox CA when importable, else the
openssl command); run as root:  python3 tests/hosts/wifhost.py {image,up,down,status,emulator,exec} ...
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE_DIR = Path(os.environ.get("KWIF_CACHE_DIR", "/var/cache/keyless-wif"))
STATE_ROOT = Path(os.environ.get("KWIF_STATE_DIR", "/var/lib/keyless-wif"))
DEFAULT_BRIDGE = os.environ.get("KWIF_BRIDGE", "kwifbr0")
DEFAULT_HOST_ADDR = os.environ.get("KWIF_HOST_ADDR", "10.213.0.1/24")
DEFAULT_EMULATOR_PORT = 8470
# The emulator's TLS listener (same server): instances reach it under the real endpoint names.
TLS_PORT = 443
TLS_DIR = CACHE_DIR / "tls"          # the sandbox CA, made once per machine
VERTEX_REGIONS = ["us-central1", "us-east1", "us-east4", "us-west1", "europe-west1", "europe-west4"]
AWS_STS_REGIONS = ["us-east-1", "us-east-2", "us-west-1", "us-west-2"]
# What every instance resolves to the emulator (its /etc/hosts) and the emulator's certificate
# covers: the hosts the roles' defaults, google-auth, LiteLLM and boto3 call.
SANDBOX_NAMES = [
    "sts.googleapis.com", "iamcredentials.googleapis.com", "cloudresourcemanager.googleapis.com",
    "iam.googleapis.com",
    "aiplatform.googleapis.com",                    # Vertex location "global"
    *(f"{r}-aiplatform.googleapis.com" for r in VERTEX_REGIONS),
    "aiplatform.us.rep.googleapis.com", "aiplatform.eu.rep.googleapis.com",   # multi-region "us", "eu"
    "sts.amazonaws.com",                            # boto3's global endpoint (us-east-1, legacy)
    *(f"sts.{r}.amazonaws.com" for r in AWS_STS_REGIONS),
]
INSTANCE_CA_PATH = "/usr/local/share/ca-certificates/keyless-wif-sandbox-ca.crt"
INSTANCE_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"   # the system store, CA included
CA_DAYS = 3650
SERVER_CERT_DAYS = 825
SERVER_CERT_RENEW_DAYS = 30
DEFAULT_PYTHON = os.environ.get("KWIF_PYTHON", str(REPO / ".venv" / "bin" / "python"))
EMULATOR_PATH = REPO / "emulator"
SUITE = "bookworm"
# What the instances must have. Changing the list (or IMAGE_CONFIG_VERSION) builds a new image.
PACKAGES = [
    "systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "python3-venv",
    "python3-boto3",  # keyless.wif.aws_caller_info (discovery in site.yml) needs boto3 on the host
    "curl", "ca-certificates", "iproute2",
    "sudo",     # Ansible's default become method, even when already root
    "acl",      # Ansible needs setfacl to become an unprivileged user (the proxy's user)
    "procps",   # ps/pgrep for debugging and for role checks
]
IMAGE_CONFIG_VERSION = "3"
# Units that must not run in a test instance: network config is done from the host, there is
# no network to fetch updates, and nobody types at the console.
MASKED_UNITS = [
    "systemd-networkd.service", "systemd-networkd.socket", "systemd-networkd-wait-online.service",
    "systemd-firstboot.service", "console-getty.service", "getty.target",
    "apt-daily.timer", "apt-daily-upgrade.timer", "apt-daily.service", "apt-daily-upgrade.service",
    "systemd-resolved.service", "systemd-timesyncd.service",
]
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
CGROUP_V1 = Path("/sys/fs/cgroup/systemd")
CGROUP_V2 = Path("/sys/fs/cgroup/unified")
NSPAWN_RUN = Path("/run/systemd/nspawn")
# Several state dirs (KWIF_STATE_DIR) may run side by side with different bridges: names that
# are global on the host carry a tag of the state dir, the firewall chain the bridge's name.
STATE_TAG = hashlib.sha256(str(STATE_ROOT.resolve()).encode()).hexdigest()[:8]
EMULATOR_CGROUP = f"kwif-emulator-{STATE_TAG}"
NSPAWN_TMPFS_MARKER = NSPAWN_RUN / ".mounted-by-keyless-wif"


def fw_chain(bridge: str) -> str:
    return f"KWIF-{bridge}"[:28]


class WifHostError(Exception):
    """An error the user can act on; printed without a traceback."""


def log(msg: str) -> None:
    print(f"[wifhost] {msg}", file=sys.stderr, flush=True)


def run(argv: list[str], *, timeout: float = 60, check: bool = True, capture: bool = True,
        **kwargs) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(argv, timeout=timeout, text=True, check=False,
                              capture_output=capture, **kwargs)
    except subprocess.TimeoutExpired as exc:
        raise WifHostError(f"command timed out after {timeout}s: {' '.join(argv)}") from exc
    except FileNotFoundError as exc:
        raise WifHostError(f"command not found: {argv[0]} (run scripts/bootstrap)") from exc
    if check and proc.returncode != 0:
        err = (proc.stderr or proc.stdout or "").strip() if capture else ""
        raise WifHostError(f"command failed ({proc.returncode}): {' '.join(argv)}\n{err}")
    return proc


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


# --------------------------------------------------------------------------- image


def debian_mirror() -> str:
    """The Debian mirror apt on this machine uses (deb822 or one-line sources)."""
    env = os.environ.get("KWIF_DEBIAN_MIRROR")
    if env:
        return env
    files = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for f in files:
        if not f.is_file():
            continue
        text = f.read_text(errors="replace")
        if f.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.M))
                suites = fields.get("Suites", "").split()
                if SUITE in suites and "deb" in fields.get("Types", "").split():
                    return fields.get("URIs", "").split()[0]
        else:
            for line in text.splitlines():
                m = re.match(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
                if m and m.group(2) == SUITE:
                    return m.group(1)
    return "http://deb.debian.org/debian"


def image_key(mirror: str) -> str:
    material = json.dumps({"suite": SUITE, "packages": sorted(PACKAGES), "mirror": mirror,
                           "config": IMAGE_CONFIG_VERSION}, sort_keys=True)
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def image_dir(mirror: str | None = None) -> Path:
    return CACHE_DIR / "images" / f"{SUITE}-{image_key(mirror or debian_mirror())}"


def image_ready(path: Path) -> bool:
    stamp = path / "stamp.json"
    if not stamp.is_file() or not (path / "rootfs" / "usr" / "lib" / "systemd" / "systemd").exists():
        return False
    try:
        return json.loads(stamp.read_text()).get("packages") == sorted(PACKAGES)
    except ValueError:
        return False


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def _mask(root: Path, unit: str) -> None:
    link = root / "etc/systemd/system" / unit
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to("/dev/null")


def configure_image(root: Path, mirror: str) -> None:
    """Turns a fresh debootstrap tree into a reusable instance template."""
    _write(root / "etc/apt/sources.list", f"deb {mirror} {SUITE} main\n")
    # Empty machine-id: nspawn hands each boot its own id. dbus reads the same file.
    _write(root / "etc/machine-id", "", 0o444)
    dbus_id = root / "var/lib/dbus/machine-id"
    if dbus_id.exists() or dbus_id.is_symlink():
        dbus_id.unlink()
    dbus_id.parent.mkdir(parents=True, exist_ok=True)
    dbus_id.symlink_to("/etc/machine-id")
    # Host keys are generated per instance at first boot (see keyless-wif-ssh-keygen.service).
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    _write(root / "etc/ssh/sshd_config.d/keyless-wif.conf",
           "# keyless.wif test instance: root by key only.\n"
           "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
           "KbdInteractiveAuthentication no\nUseDNS no\nMaxStartups 50:30:100\n")
    _write(root / "etc/systemd/system/keyless-wif-ssh-keygen.service",
           "[Unit]\nDescription=Generate this instance's SSH host keys\n"
           "Before=ssh.service\nConditionPathExists=!/etc/ssh/ssh_host_ed25519_key\n\n"
           "[Service]\nType=oneshot\nExecStart=/usr/bin/ssh-keygen -A\n")
    _write(root / "etc/systemd/system/ssh.service.d/keyless-wif.conf",
           "[Unit]\nRequires=keyless-wif-ssh-keygen.service\nAfter=keyless-wif-ssh-keygen.service\n")
    wants = root / "etc/systemd/system/multi-user.target.wants/ssh.service"
    if not wants.exists() and not wants.is_symlink():
        wants.parent.mkdir(parents=True, exist_ok=True)
        wants.symlink_to("/lib/systemd/system/ssh.service")
    for unit in MASKED_UNITS:
        _mask(root, unit)
    # No password can ever log in; root is reached with the controller's key only.
    shadow = root / "etc/shadow"
    shadow.write_text(re.sub(r"^root:[^:]*:", "root:*:", shadow.read_text(), flags=re.M))
    _write(root / "etc/hosts", "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n")
    _write(root / "etc/resolv.conf", "# keyless.wif test instance: no DNS (no route out)\n")
    hostname = root / "etc/hostname"
    if hostname.exists():
        hostname.unlink()
    (root / "etc/fstab").write_text("")
    # Keep the image small: package caches are useless without a route out.
    for pattern in ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_Packages", "var/log/*.log"):
        for f in root.glob(pattern):
            f.unlink()
    (root / "root/.ssh").mkdir(mode=0o700, exist_ok=True)


def image_users(path: Path) -> list[str]:
    """Overlay mounts (of any state dir) whose lower layer is this image."""
    lower = f"lowerdir={path / 'rootfs'}"
    return [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if " - overlay " in line and lower in line]


def cmd_image(args: argparse.Namespace) -> int:
    require_root()
    path = build_image(force=args.force, mirror=args.mirror)
    print(json.dumps({"image": str(path / "rootfs"), **json.loads((path / "stamp.json").read_text())}, indent=2))
    return 0


def build_image(force: bool = False, mirror: str | None = None) -> Path:
    mirror = mirror or debian_mirror()
    final = image_dir(mirror)
    if image_ready(final) and not force:
        return final
    if final.exists() and image_users(final):
        raise WifHostError(f"image {final} is the lower layer of running instances "
                           f"({', '.join(image_users(final))}); stop them before rebuilding")
    (CACHE_DIR / "images").mkdir(parents=True, exist_ok=True)
    debs = CACHE_DIR / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(final.name + f".tmp-{os.getpid()}")
    for stale in final.parent.glob(final.name + ".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp.mkdir()
    logfile = final.with_name(final.name + ".log")
    argv = ["debootstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES), "--components=main",
            f"--cache-dir={debs}", "--merged-usr"]
    keyring = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
    if keyring.is_file():
        argv.append(f"--keyring={keyring}")
    argv += [SUITE, str(tmp / "rootfs"), mirror]
    log(f"building image {final.name} from {mirror} (log: {logfile})")
    started = time.monotonic()
    try:
        with open(logfile, "w") as fh:
            proc = subprocess.run(argv, stdout=fh, stderr=subprocess.STDOUT, timeout=1800, check=False)
        if proc.returncode != 0:
            tail = logfile.read_text(errors="replace").splitlines()[-15:]
            raise WifHostError(f"debootstrap failed ({proc.returncode}); last lines of {logfile}:\n" + "\n".join(tail))
        configure_image(tmp / "rootfs", mirror)
        elapsed = round(time.monotonic() - started, 1)
        size = run(["du", "-sm", str(tmp / "rootfs")]).stdout.split()[0]
        stamp = {"key": image_key(mirror), "suite": SUITE, "mirror": mirror, "packages": sorted(PACKAGES),
                 "config_version": IMAGE_CONFIG_VERSION, "build_seconds": elapsed, "size_mib": int(size),
                 "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        _write(tmp / "stamp.json", json.dumps(stamp, indent=2) + "\n")
        if final.exists():
            users = image_users(final)
            if users:
                raise WifHostError(f"image {final} is the lower layer of running instances ({', '.join(users)}); "
                                   "stop them before rebuilding")
            shutil.rmtree(final)
        tmp.rename(final)
        log(f"image ready in {elapsed}s, {size} MiB: {final}")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


# --------------------------------------------------------------------------- names and state


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


def cgroup_dirs(group: str) -> list[Path]:
    return [CGROUP_V1 / group, CGROUP_V2 / group]


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.rename(path)


def instance_names() -> list[str]:
    d = STATE_ROOT / "instances"
    return sorted(p.name for p in d.iterdir() if p.is_dir()) if d.is_dir() else []


def link_exists(ifname: str) -> bool:
    return Path("/sys/class/net", ifname).exists()


def mounts() -> list[str]:
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mp = line.split()[4]
        out.append(mp.encode().decode("unicode_escape"))
    return out


def is_mountpoint(path: Path) -> bool:
    return str(path) in mounts()


# --------------------------------------------------------------------------- cgroups and processes


def cgroup_create(group: str) -> list[Path]:
    dirs = cgroup_dirs(group)
    for d in dirs:
        if not d.parent.is_dir():
            raise WifHostError(f"{d.parent} missing: this tool needs the cgroup v1 name=systemd hierarchy "
                               "and the unified (v2) hierarchy mounted (hybrid layout)")
        d.mkdir(exist_ok=True)
    return dirs


def cgroup_pids(group: str) -> set[int]:
    pids: set[int] = set()
    for top in cgroup_dirs(group):
        if not top.is_dir():
            continue
        for dirpath, _dirs, files in os.walk(top):
            if "cgroup.procs" in files:
                with contextlib.suppress(OSError):
                    pids.update(int(x) for x in Path(dirpath, "cgroup.procs").read_text().split())
    return pids


def signal_pids(pids: set[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def cgroup_kill(group: str, grace: float) -> None:
    """Ends every process of a cgroup tree: SIGKILL after `grace` seconds, bounded."""
    deadline = time.monotonic() + grace
    while cgroup_pids(group) and time.monotonic() < deadline:
        time.sleep(0.2)
    for attempt in range(50):
        pids = cgroup_pids(group)
        if not pids:
            break
        kill_file = CGROUP_V2 / group / "cgroup.kill"
        if kill_file.exists():
            with contextlib.suppress(OSError):
                kill_file.write_text("1")
        signal_pids(pids, signal.SIGKILL)
        time.sleep(0.1 if attempt < 20 else 0.5)
    else:
        raise WifHostError(f"processes survive SIGKILL in cgroup {group}: {sorted(cgroup_pids(group))}")


def cgroup_remove(group: str) -> None:
    for top in cgroup_dirs(group):
        if not top.is_dir():
            continue
        # children first; cgroup dirs are removed with rmdir, never by deleting files
        for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda t: -len(t[0])):
            for attempt in range(20):
                try:
                    os.rmdir(dirpath)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if attempt == 19:
                        raise WifHostError(f"cannot remove cgroup {dirpath} (still busy)") from None
                    time.sleep(0.1)


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours is not alive
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def container_init(pid: int) -> bool:
    """True for a process that is PID 1 of its own PID namespace (a container's init)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                ids = line.split()[1:]
                return len(ids) > 1 and ids[-1] == "1"
    except OSError:
        pass
    return False


def spawn_in_cgroup(argv: list[str], group: str, logfile: Path, env: dict | None = None) -> int:
    """Starts a detached process that is in `group` (both hierarchies) before it execs."""
    dirs = cgroup_create(group)

    def enter() -> None:
        for d in dirs:
            Path(d, "cgroup.procs").write_text(str(os.getpid()))

    with open(logfile, "ab") as fh:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=enter, env=env,  # noqa: PLW1509
                                close_fds=True)
    return proc.pid


# --------------------------------------------------------------------------- network


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


def net_meta() -> dict:
    return read_json(STATE_ROOT / "net.json")


def instance_running(name: str) -> bool:
    return bool(cgroup_pids(f"nspawn-{name}")) or pid_alive(read_json(inst_dir(name) / "instance.json").get("nspawn_pid"))


def reap_stale(starting: str | None = None) -> list[str]:
    """Removes what a killed run left behind: instances with no process left, then the network if
    nothing uses it any more. Never touches an instance or emulator that still runs, nor the
    instance being started."""
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
            if pid_alive(read_json(STATE_ROOT / "emulator.json").get("pid")):
                users.append("the emulator")
            raise WifHostError(f"test network already up as {meta['bridge']} {meta['host_addr']}, used by "
                               f"{', '.join(users) or 'nothing known'}; asked for {bridge} {iface} "
                               "(run `wifhost.py down --all` first)")
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
    write_json(STATE_ROOT / "net.json", meta)
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
    if [n for n in instance_names() if n != starting] or pid_alive(read_json(STATE_ROOT / "emulator.json").get("pid")):
        return removed
    meta = net_meta()
    bridge = meta.get("bridge", DEFAULT_BRIDGE)
    firewall_down(bridge)
    if link_exists(bridge):
        run(["ip", "link", "del", bridge], check=False)
        removed.append(f"bridge {bridge}")
    (STATE_ROOT / "net.json").unlink(missing_ok=True)
    # The tmpfs is shared by every nspawn on the host (other state dirs too): only the last one out
    # unmounts it.
    legacy_marker = STATE_ROOT / "nspawn-tmpfs.ours"   # earlier versions kept the marker here
    ours = NSPAWN_TMPFS_MARKER.exists() or legacy_marker.exists()
    legacy_marker.unlink(missing_ok=True)
    if ours and is_mountpoint(NSPAWN_RUN) and not nspawn_processes():
        if run(["umount", str(NSPAWN_RUN)], check=False).returncode != 0:
            run(["umount", "-l", str(NSPAWN_RUN)], check=False)
        removed.append(f"tmpfs {NSPAWN_RUN}")
    return removed


def nspawn_processes(under: Path | None = None) -> list[str]:
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            with contextlib.suppress(OSError):
                argv = (p / "cmdline").read_bytes().split(b"\0")
                if argv and argv[0].endswith(b"systemd-nspawn"):
                    cmd = b" ".join(argv).decode(errors="replace")
                    if under is None or str(under) in cmd:
                        found.append(f"{p.name}: {cmd[:160]}")
    return found


def netns_exec(name: str, argv: list[str], **kw) -> subprocess.CompletedProcess:
    return run(["ip", "netns", "exec", name, *argv], **kw)


def setup_netns(name: str, ip: ipaddress.IPv4Interface, bridge: str) -> None:
    if netns_path(name).exists():
        raise WifHostError(f"network namespace {name} already exists (run `wifhost.py down {name}`)")
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


# --------------------------------------------------------------------------- sandbox CA, TLS, names


TLS_FILES = ("ca.crt", "ca.key", "server.crt", "server.key")


def have_cryptography() -> bool:
    try:
        import cryptography.x509  # noqa: F401
    except ImportError:
        return False
    return True


def _sha256_file(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _random_serial() -> int:
    return int.from_bytes(os.urandom(16), "big") >> 1   # positive, at most 127 bits, as RFC 5280 wants


def _tls_with_cryptography(out: Path, names: list[str], new_ca: bool, now: float) -> None:
    """Writes (new) ca.crt/ca.key and server.crt/server.key into `out` with the cryptography package."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def key_pem(key) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    start = dt.datetime.fromtimestamp(now - 300, dt.UTC)
    usage = dict(digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
                 key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False)
    if new_ca:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "keyless.wif sandbox"),
                             x509.NameAttribute(NameOID.COMMON_NAME, f"keyless.wif sandbox CA {os.urandom(4).hex()}")])
        ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
              .public_key(ca_key.public_key()).serial_number(_random_serial())
              .not_valid_before(start).not_valid_after(start + dt.timedelta(days=CA_DAYS))
              .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
              .add_extension(x509.KeyUsage(**{**usage, "key_cert_sign": True, "crl_sign": True}), critical=True)
              .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
              .sign(ca_key, hashes.SHA256()))
        (out / "ca.key").write_bytes(key_pem(ca_key))
        (out / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    ca_key = serialization.load_pem_private_key((out / "ca.key").read_bytes(), None)
    ca = x509.load_pem_x509_certificate((out / "ca.crt").read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(_random_serial())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=SERVER_CERT_DAYS))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(**{**usage, "digital_signature": True}), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    (out / "server.key").write_bytes(key_pem(key))
    (out / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _tls_with_openssl(out: Path, names: list[str], new_ca: bool, now: float) -> None:
    """The same files with the openssl command line (when cryptography is not importable)."""
    alt = "".join(f"DNS.{i} = {n}\n" for i, n in enumerate(names, 1))
    cnf = out / "openssl.cnf"
    cnf.write_text(
        "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n"
        "[v3_ca]\nbasicConstraints = critical,CA:TRUE,pathlen:0\nkeyUsage = critical,keyCertSign,cRLSign\n"
        "subjectKeyIdentifier = hash\n"
        "[v3_server]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n"
        "extendedKeyUsage = serverAuth\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n"
        f"subjectAltName = @alt\n[alt]\n{alt}")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    if new_ca:
        run(["openssl", "req", "-x509", "-new", "-config", str(cnf), "-extensions", "v3_ca", *ec, "-nodes",
             "-keyout", str(out / "ca.key"), "-out", str(out / "ca.crt"), "-days", str(CA_DAYS), "-sha256",
             "-subj", f"/O=keyless.wif sandbox/CN=keyless.wif sandbox CA {os.urandom(4).hex()}"])
    run(["openssl", "req", "-new", "-config", str(cnf), *ec, "-nodes", "-keyout", str(out / "server.key"),
         "-out", str(out / "server.csr"), "-subj", f"/CN={names[0]}"])
    run(["openssl", "x509", "-req", "-in", str(out / "server.csr"), "-CA", str(out / "ca.crt"),
         "-CAkey", str(out / "ca.key"), "-set_serial", f"0x{_random_serial():x}", "-days", str(SERVER_CERT_DAYS),
         "-sha256", "-extfile", str(cnf), "-extensions", "v3_server", "-out", str(out / "server.crt")])
    for f in ("server.csr", "openssl.cnf"):
        (out / f).unlink()


def ensure_sandbox_tls(directory: Path | None = None, names: list[str] | None = None, backend: str | None = None,
                       now: float | None = None) -> dict:
    """The machine's sandbox CA and the emulator's server certificate for `names`, made when missing.

    The CA is kept for its lifetime (instances and users may trust it); the server certificate is
    re-issued when the names change or it has under SERVER_CERT_RENEW_DAYS left. tls.json records
    the files' hashes, so a half-written set is noticed and made again. Backend: the cryptography
    package when this interpreter has it, else the openssl command (or as given).
    """
    d = directory or TLS_DIR
    names = list(names or SANDBOX_NAMES)
    d.mkdir(parents=True, exist_ok=True)
    with open(d / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        now = time.time() if now is None else now
        meta = read_json(d / "tls.json")
        hashes = {f: _sha256_file(d / f) for f in TLS_FILES}
        recorded = meta.get("sha256") or {}
        ca_ok = (all(hashes[f] and hashes[f] == recorded.get(f) for f in ("ca.crt", "ca.key"))
                 and meta.get("ca_not_after", 0) > now + 86400 * SERVER_CERT_DAYS)
        server_ok = (ca_ok and all(hashes[f] and hashes[f] == recorded.get(f) for f in ("server.crt", "server.key"))
                     and meta.get("names") == names
                     and meta.get("server_not_after", 0) > now + 86400 * SERVER_CERT_RENEW_DAYS)
        if not server_ok:
            backend = backend or ("cryptography" if have_cryptography() else "openssl")
            make = {"cryptography": _tls_with_cryptography, "openssl": _tls_with_openssl}[backend]
            tmp = d / f".new-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(mode=0o700)
            try:
                if ca_ok:
                    for f in ("ca.crt", "ca.key"):
                        shutil.copyfile(d / f, tmp / f)
                make(tmp, names, not ca_ok, now)
                for f in TLS_FILES:
                    (tmp / f).chmod(0o600 if f.endswith(".key") else 0o644)
                for f in TLS_FILES:
                    os.replace(tmp / f, d / f)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            meta = {"names": names, "backend": backend,
                    "ca_not_after": meta.get("ca_not_after") if ca_ok else now + 86400 * CA_DAYS,
                    "server_not_after": now + 86400 * SERVER_CERT_DAYS,
                    "sha256": {f: _sha256_file(d / f) for f in TLS_FILES},
                    "created_at": meta.get("created_at") if ca_ok else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "server_issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            write_json(d / "tls.json", meta)
            log(f"{'sandbox CA and ' if not ca_ok else ''}emulator TLS certificate written to {d} ({backend})")
    return {"dir": str(d), "ca_cert": str(d / "ca.crt"), "server_cert": str(d / "server.crt"),
            "server_key": str(d / "server.key"), "names": names, "backend": meta.get("backend")}


def instance_hosts(host_ip: str, names: list[str] | None = None) -> str:
    """An instance's /etc/hosts: the real Google and AWS endpoint names are the emulator's address."""
    ipaddress.IPv4Address(host_ip)
    lines = ["# keyless.wif test instance (written by wifhost.py up). The Google and AWS endpoints the",
             f"# roles call by their real names are the emulator on the test bridge, {host_ip} (TLS on {TLS_PORT}).",
             "127.0.0.1\tlocalhost", "::1\t\tlocalhost ip6-localhost ip6-loopback", ""]
    lines += [f"{host_ip}\t{n}" for n in (names or SANDBOX_NAMES)]
    return "\n".join(lines) + "\n"


def install_sandbox_ca(name: str, root: Path, ca_cert: Path) -> None:
    """Adds the sandbox CA to the instance's system store (before boot, in its own namespace)."""
    pem = ca_cert.read_text()
    _write(root / INSTANCE_CA_PATH.lstrip("/"), pem)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    netns_exec(name, ["chroot", str(root), "update-ca-certificates"], timeout=120, env=env)
    if pem.strip() not in (root / INSTANCE_CA_BUNDLE.lstrip("/")).read_text():
        raise WifHostError(f"update-ca-certificates in {name} did not add the sandbox CA to {INSTANCE_CA_BUNDLE}")


# --------------------------------------------------------------------------- ssh


def ensure_ssh_key(path: Path) -> Path:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "keyless-wif-controller", "-f", str(path)])
    if not Path(str(path) + ".pub").exists():
        pub = run(["ssh-keygen", "-y", "-f", str(path)]).stdout
        Path(str(path) + ".pub").write_text(pub)
    return path


def ssh_argv(key: Path, address: str, *cmd: str) -> list[str]:
    return ["ssh", "-i", str(key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=3",
            "-o", "IdentitiesOnly=yes", f"root@{address}", *cmd]


def wait_ssh(key: Path, address: str, timeout: float, alive, logfile: Path) -> float:
    started = time.monotonic()
    last = ""
    while time.monotonic() - started < timeout:
        if not alive():
            tail = "\n".join(logfile.read_text(errors="replace").splitlines()[-25:])
            raise WifHostError(f"systemd-nspawn exited before SSH answered on {address}; console log tail:\n{tail}")
        proc = run(ssh_argv(key, address, "true"), check=False, timeout=15)
        if proc.returncode == 0:
            return round(time.monotonic() - started, 1)
        last = (proc.stderr or "").strip()
        time.sleep(0.5)
    raise WifHostError(f"SSH on {address} did not answer within {timeout}s (last error: {last}); see {logfile}")


# --------------------------------------------------------------------------- up / down


def instance_id_for(name: str) -> str:
    return "i-0" + hashlib.sha256(b"instance:" + name.encode()).hexdigest()[:16]


def validate_up(args: argparse.Namespace, net: ipaddress.IPv4Interface) -> ipaddress.IPv4Interface:
    try:
        ip = ipaddress.IPv4Interface(args.ip)
    except ValueError as exc:
        raise WifHostError(f"--ip {args.ip!r}: not an IPv4 address with prefix, e.g. 10.213.0.11/24") from exc
    if ip.network != net.network:
        raise WifHostError(f"--ip {ip}: must be in the bridge subnet {net.network} with the same prefix")
    if ip.ip in (net.ip, net.network.network_address, net.network.broadcast_address):
        raise WifHostError(f"--ip {ip}: that is the host, network or broadcast address of {net.network}")
    for other in instance_names():
        if other != args.name and read_json(inst_dir(other) / "instance.json").get("address") == str(ip.ip):
            raise WifHostError(f"--ip {ip}: already used by instance {other}")
    if not args.no_imds:
        if not args.account_id or not re.fullmatch(r"\d{12}", args.account_id):
            raise WifHostError("--account-id: required (12 digits) unless --no-imds")
        if not args.role or not re.fullmatch(r"[\w+=,.@-]{1,64}", args.role):
            raise WifHostError("--role: required, an IAM role name ([A-Za-z0-9+=,.@_-], 1-64 chars)")
        if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d[a-z]", args.availability_zone):
            raise WifHostError(f"--availability-zone {args.availability_zone!r}: must look like us-east-1a")
        if args.instance_id and not re.fullmatch(r"i-[0-9a-f]{8,17}", args.instance_id):
            raise WifHostError(f"--instance-id {args.instance_id!r}: must look like i-0123456789abcdef0")
        if not args.emulator_config or not Path(args.emulator_config).is_file():
            raise WifHostError(f"--emulator-config {args.emulator_config!r}: file required for the IMDS")
    if args.wheelhouse and not Path(args.wheelhouse).is_dir():
        raise WifHostError(f"--wheelhouse {args.wheelhouse}: not a directory (build it with scripts/wheelhouse)")
    return ip


def cmd_up(args: argparse.Namespace) -> int:
    require_root()
    name = check_name(args.name)
    started = time.monotonic()
    with state_lock():
        if (inst_dir(name) / "instance.json").exists() and pid_alive(
                read_json(inst_dir(name) / "instance.json").get("nspawn_pid")):
            if args.replace:
                down_one(name, args.stop_timeout)
            else:
                raise WifHostError(f"instance {name} is already up (use `down {name}` or --replace)")
        elif inst_dir(name).exists() or netns_path(name).exists():
            log(f"cleaning leftovers of a previous {name}")
            down_one(name, args.stop_timeout)
        host_net = parse_host_addr(args.host_addr)
        ip = validate_up(args, host_net)
        image = build_image() / "rootfs"
        key = ensure_ssh_key(Path(args.ssh_key))
        try:
            info = start_instance(args, name, ip, image, key)
        except BaseException as exc:
            log(f"up {name} failed, cleaning up: {exc}")
            if not args.keep_on_failure:
                with contextlib.suppress(Exception):
                    down_one(name, 5)
                    gc_shared()
            raise
    info["up_seconds"] = round(time.monotonic() - started, 1)
    write_json(inst_dir(name) / "instance.json", info)
    print(json.dumps(info, indent=2))
    return 0


def start_instance(args: argparse.Namespace, name: str, ip: ipaddress.IPv4Interface, image: Path, key: Path) -> dict:
    d = inst_dir(name)
    (d / "root").mkdir(parents=True, exist_ok=True)
    rw = d
    if args.tmpfs_upper:
        # writes (e.g. a LiteLLM virtualenv, ~800 MiB of small files) go to RAM: faster to write
        # and instant to discard, where deleting them from a disk mounted with discard takes seconds
        rw = d / "rw"
        rw.mkdir(exist_ok=True)
        run(["mount", "-t", "tmpfs", "-o", f"mode=0755,size={args.tmpfs_upper}", f"kwif-{name}-rw", str(rw)])
    for sub in ("upper", "work"):
        (rw / sub).mkdir(exist_ok=True)
    info: dict = {"instance": name, "name": name, "address": str(ip.ip), "cidr": str(ip), "user": "root", "port": 22,
                  "identity_file": str(key), "netns": str(netns_path(name)), "veth": veth_host(name),
                  "state_dir": str(d), "image": str(image), "cgroup": f"nspawn-{name}"}
    write_json(d / "instance.json", info)
    net = ensure_bridge(args.bridge, args.host_addr, args.emulator_port, not args.no_firewall, starting=name)
    info["bridge"], info["host_addr"] = net["bridge"], net["host_addr"]
    ensure_nspawn_tmpfs()
    setup_netns(name, ip, args.bridge)

    if not args.no_imds:
        instance_id = args.instance_id or instance_id_for(name)
        info["aws"] = {"account_id": args.account_id, "role": args.role, "instance_id": instance_id,
                       "availability_zone": args.availability_zone}
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": str(EMULATOR_PATH),
               "PYTHONUNBUFFERED": "1", "LANG": "C.UTF-8"}
        argv = ["ip", "netns", "exec", name, args.python, "-m", "wif_emulator", "imds",
                "--config", str(Path(args.emulator_config).resolve()), "--listen", "169.254.169.254:80",
                "--account-id", args.account_id, "--role", args.role, "--instance-id", instance_id,
                "--availability-zone", args.availability_zone]
        if args.imds_no_require_token:
            argv.append("--no-require-token")
        info["imds_pid"] = spawn_in_cgroup(argv, f"kwif-imds-{name}", d / "imds.log", env=env)
        info["imds_cgroup"] = f"kwif-imds-{name}"
        write_json(d / "instance.json", info)
        try:
            wait_tcp_in_netns(name, "169.254.169.254", 80, 20, lambda: pid_alive(info["imds_pid"]))
        except WifHostError as exc:
            tail = "\n".join((d / "imds.log").read_text(errors="replace").splitlines()[-20:])
            raise WifHostError(f"{exc}; IMDS log tail:\n{tail}") from None

    run(["mount", "-t", "overlay", f"kwif-{name}", "-o",
         f"lowerdir={image},upperdir={rw / 'upper'},workdir={rw / 'work'}", str(d / "root")])
    root = d / "root"
    _write(root / "etc/hostname", name + "\n")
    pub = Path(str(key) + ".pub").read_text()
    (root / "root/.ssh").mkdir(mode=0o700, exist_ok=True)
    _write(root / "root/.ssh/authorized_keys", pub, 0o600)
    # The real endpoint names resolve to the emulator, whose certificate the system store trusts.
    host_ip = str(parse_host_addr(net["host_addr"]).ip)
    _write(root / "etc/hosts", instance_hosts(host_ip))
    install_sandbox_ca(name, root, Path(ensure_sandbox_tls()["ca_cert"]))
    info["tls"] = {"ca_cert": INSTANCE_CA_PATH, "ca_bundle": INSTANCE_CA_BUNDLE, "endpoints_address": host_ip,
                   "names": SANDBOX_NAMES}
    _write(root / "etc/keyless-wif-instance.json", json.dumps(
        {k: info[k] for k in ("name", "address", "host_addr") if k in info}
        | {"aws": info.get("aws"), "ca_cert": INSTANCE_CA_PATH, "ca_bundle": INSTANCE_CA_BUNDLE}, indent=2) + "\n")

    argv = ["systemd-nspawn", "-q", "-b", "-D", str(root), f"--machine={name}", "--register=no",
            "--keep-unit", f"--network-namespace-path={netns_path(name)}", "--console=read-only",
            "--resolv-conf=off", "--timezone=off", "--link-journal=no"]
    if args.wheelhouse:
        argv.append(f"--bind-ro={Path(args.wheelhouse).resolve()}:/opt/wheelhouse")
    for extra in args.bind_ro or []:
        argv.append(f"--bind-ro={extra}")
    info["nspawn_pid"] = spawn_in_cgroup(argv, f"nspawn-{name}", d / "console.log",
                                         env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"})
    write_json(d / "instance.json", info)
    info["ssh_seconds"] = wait_ssh(key, str(ip.ip), args.boot_timeout, lambda: pid_alive(info["nspawn_pid"]),
                                   d / "console.log")
    return info


def unmount_under(path: Path) -> None:
    prefix = str(path).rstrip("/") + "/"
    for _ in range(5):
        # newest mount first: an overlay goes before the tmpfs that holds its upper dir
        targets = [m for m in reversed(mounts()) if m == str(path) or m.startswith(prefix)]
        if not targets:
            return
        for m in targets:
            if run(["umount", m], check=False, timeout=30).returncode != 0:
                run(["umount", "-l", m], check=False, timeout=30)
    left = [m for m in mounts() if m.startswith(prefix)]
    if left:
        raise WifHostError(f"mounts remain under {path}: {left}")


def down_one(name: str, stop_timeout: float) -> list[str]:
    """Removes everything of one instance, whatever state it is in. Idempotent."""
    done: list[str] = []
    t0 = time.monotonic()

    def note(what: str) -> None:
        nonlocal t0
        done.append(f"{what} ({time.monotonic() - t0:.1f}s)")
        t0 = time.monotonic()

    d = inst_dir(name)
    info = read_json(d / "instance.json")
    group = f"nspawn-{name}"
    pids = cgroup_pids(group)
    nspawn_pid = info.get("nspawn_pid")
    if pids or pid_alive(nspawn_pid):
        # SIGTERM to nspawn asks the container's systemd for an orderly shutdown.
        if nspawn_pid in pids:   # a recorded pid outside the cgroup may have been reused
            signal_pids({nspawn_pid}, signal.SIGTERM)
        else:
            # nspawn is gone but the container lives on: ask its systemd directly for a halt
            # (SIGRTMIN+3; systemd as PID 1 ignores SIGTERM)
            inits = {p for p in pids if container_init(p)}
            signal_pids(inits, signal.SIGRTMIN + 3)
            signal_pids(pids - inits, signal.SIGTERM)
        cgroup_kill(group, stop_timeout)
        note("container stopped")
    cgroup_remove(group)
    imds_group = f"kwif-imds-{name}"
    if cgroup_pids(imds_group):
        signal_pids(cgroup_pids(imds_group), signal.SIGTERM)
        cgroup_kill(imds_group, 3)
        note("imds stopped")
    cgroup_remove(imds_group)
    for sub in (NSPAWN_RUN / "propagate" / name, NSPAWN_RUN / "incoming" / name):
        unmount_under(sub)
    if d.exists() and any(m.startswith(str(d) + "/") for m in mounts()):
        unmount_under(d)
        note("overlay unmounted")
    if link_exists(veth_host(name)):
        run(["ip", "link", "del", veth_host(name)], check=False)
        note("veth deleted")
    if netns_path(name).exists():
        if run(["ip", "netns", "del", name], check=False).returncode != 0:
            run(["umount", "-l", str(netns_path(name))], check=False)
            with contextlib.suppress(OSError):
                netns_path(name).unlink()
        note("netns deleted")
    for sub in (NSPAWN_RUN / "propagate" / name,):
        shutil.rmtree(sub, ignore_errors=True)
    if d.exists():
        if any(m.startswith(str(d) + "/") for m in mounts()):
            raise WifHostError(f"refusing to delete {d}: something is still mounted below it")
        shutil.rmtree(d)
        note("state removed")
    return done


def cmd_down(args: argparse.Namespace) -> int:
    require_root()
    if not args.all and not args.names:
        raise WifHostError("down: give instance names or --all")
    started = time.monotonic()
    result: dict = {}
    with state_lock():
        names = instance_names() if args.all else [check_name(n) for n in args.names]
        for name in names:
            result[name] = down_one(name, args.stop_timeout)
        if args.all:
            result["emulator"] = stop_emulator()
        result["shared"] = gc_shared()
    result["changed"] = any(v for k, v in result.items() if k != "shared")
    result["down_seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(result, indent=2))
    return 0


def leftovers(names: list[str], bridge: str, anywhere: bool = False) -> list[str]:
    """Every trace this state dir (and the named instances) could leave on the host.

    Used by tests to prove that destroy is complete. Instances of other state dirs are not
    reported unless `anywhere` (then any kwif cgroup, veth or bridge counts).
    """
    found: list[str] = [f"instance state {n}" for n in instance_names()]
    if anywhere:
        found += [f"cgroup {p}" for top in (CGROUP_V1, CGROUP_V2) for pat in ("nspawn-*", "kwif-*")
                  for p in sorted(top.glob(pat))]
        found += [f"link {p.name}" for p in sorted(Path("/sys/class/net").iterdir())
                  if p.name.startswith(("kwh", "kwc", "kwifbr"))]
        found += [f"process {p}" for p in nspawn_processes()]
        if NSPAWN_TMPFS_MARKER.exists():
            found.append(f"mount {NSPAWN_RUN}")
    for name in sorted(set(names) | set(instance_names())):
        found += [f"cgroup {d}" for g in (f"nspawn-{name}", f"kwif-imds-{name}") for d in cgroup_dirs(g)
                  if d.exists()]
        if netns_path(name).exists():
            found.append(f"netns {name}")
        if link_exists(veth_host(name)):
            found.append(f"link {veth_host(name)}")
    found += [f"cgroup {d}" for d in cgroup_dirs(EMULATOR_CGROUP) if d.exists()]
    bridge = net_meta().get("bridge", bridge)
    if link_exists(bridge):
        found.append(f"bridge {bridge}")
    if run(["iptables", "-w", "5", "-n", "-L", fw_chain(bridge)], check=False).returncode == 0:
        found.append(f"iptables chain {fw_chain(bridge)}")
    found += [f"mount {m}" for m in mounts() if m.startswith(str(STATE_ROOT) + "/")]
    if NSPAWN_TMPFS_MARKER.exists() and not nspawn_processes():
        found.append(f"mount {NSPAWN_RUN} (ours, no nspawn left)")
    if pid_alive(read_json(STATE_ROOT / "emulator.json").get("pid")):
        found.append("emulator server")
    found += [f"process {p}" for p in nspawn_processes(STATE_ROOT / "instances")]
    return found


def cmd_status(args: argparse.Namespace) -> int:
    out: dict = {"instances": [], "network": net_meta(), "emulator": read_json(STATE_ROOT / "emulator.json"),
                 # the CA as the instances see it (system store) and where it lives on this machine
                 "tls": {"ca_cert": INSTANCE_CA_PATH, "ca_bundle": INSTANCE_CA_BUNDLE,
                         "ca_cert_host": str(TLS_DIR / "ca.crt"), "names": SANDBOX_NAMES}}
    if out["emulator"]:
        out["emulator"]["running"] = pid_alive(out["emulator"].get("pid"))
    for name in instance_names():
        info = read_json(inst_dir(name) / "instance.json")
        info["running"] = pid_alive(info.get("nspawn_pid"))
        info["imds_running"] = bool(cgroup_pids(f"kwif-imds-{name}"))
        out["instances"].append(info)
    if args.leftovers:
        out["leftovers"] = sorted(set(leftovers(args.name or [], args.bridge, args.anywhere)))
    if args.json or args.leftovers:
        print(json.dumps(out, indent=2))
    else:
        for i in out["instances"]:
            aws = i.get("aws") or {}
            print(f"{i.get('name', '?'):16} {i.get('address', '?'):15} "
                  f"{'running' if i['running'] else 'STOPPED':8} imds={'up' if i['imds_running'] else 'down':5} "
                  f"{aws.get('account_id', '-')}/{aws.get('role', '-')}")
        emu = out["emulator"]
        tls_url = f" and {emu['tls_url']}" if emu.get("tls_url") else ""
        print(f"emulator: {'running at ' + emu['url'] + tls_url if emu.get('running') else 'not running'}")
    return 1 if args.leftovers and out["leftovers"] else 0


# --------------------------------------------------------------------------- emulator server


def start_emulator(config: str, listen: str | None, state: str | None, python: str, bridge: str,
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
    current = read_json(STATE_ROOT / "emulator.json")
    if pid_alive(current.get("pid")):
        if current.get("listen") == listen and current.get("config") == str(Path(config).resolve()) \
                and current.get("tls_listen") == tls_listen:
            return current
        raise WifHostError(f"an emulator already runs at {current.get('listen')} "
                           f"(TLS: {current.get('tls_listen') or 'none'}; stop it first)")
    stop_emulator()
    ensure_bridge(bridge, host_addr, int(port_s), firewall)
    logfile = STATE_ROOT / "emulator.log"
    argv = [python, "-m", "wif_emulator", "serve", "--config", str(Path(config).resolve()), "--listen", listen]
    if state:
        argv += ["--state", state]
    certs = ensure_sandbox_tls() if tls else {}
    if tls:
        argv += ["--tls-listen", tls_listen, "--tls-cert", certs["server_cert"], "--tls-key", certs["server_key"]]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(EMULATOR_PATH),
           "PYTHONUNBUFFERED": "1", "LANG": "C.UTF-8"}
    pid = spawn_in_cgroup(argv, EMULATOR_CGROUP, logfile, env=env)
    meta = {"pid": pid, "listen": listen, "url": f"http://{listen}", "config": str(Path(config).resolve()),
            "log": str(logfile), "cgroup": EMULATOR_CGROUP, "tls_listen": tls_listen,
            "tls_url": f"https://{tls_listen}" if tls else None, "ca_cert": certs.get("ca_cert")}
    write_json(STATE_ROOT / "emulator.json", meta)
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
    group = read_json(STATE_ROOT / "emulator.json").get("cgroup", EMULATOR_CGROUP)
    if cgroup_pids(group):
        signal_pids(cgroup_pids(group), signal.SIGTERM)
        cgroup_kill(group, 5)
        done.append("emulator stopped")
    cgroup_remove(group)
    (STATE_ROOT / "emulator.json").unlink(missing_ok=True)
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


def cmd_exec(args: argparse.Namespace) -> int:
    """Runs a command over SSH in an instance (debug helper)."""
    info = read_json(inst_dir(check_name(args.name)) / "instance.json")
    if not info:
        raise WifHostError(f"no instance {args.name}")
    # one shell-quoted string: ssh hands the remote shell a single command line
    return subprocess.call(ssh_argv(Path(info["identity_file"]), info["address"], shlex.join(args.command)))


# --------------------------------------------------------------------------- CLI


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wifhost.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("image", help="build (or reuse) the cached Debian 12 image")
    s.add_argument("--force", action="store_true", help="rebuild even when a complete image exists")
    s.add_argument("--mirror", help="Debian mirror (default: the one apt uses here)")
    s.set_defaults(func=cmd_image)

    def net_opts(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--bridge", default=DEFAULT_BRIDGE, help="test bridge name (default %(default)s)")
        sp.add_argument("--host-addr", default=DEFAULT_HOST_ADDR,
                        help="host address/prefix on the bridge (default %(default)s)")
        sp.add_argument("--emulator-port", type=int, default=DEFAULT_EMULATOR_PORT,
                        help=f"host port instances may reach besides {TLS_PORT} (default %(default)s)")
        sp.add_argument("--no-firewall", action="store_true",
                        help="do not restrict what instances reach on the host (default: only the emulator ports)")
        sp.add_argument("--python", default=DEFAULT_PYTHON, help="Python that runs wif_emulator")

    s = sub.add_parser("up", help="boot one instance")
    s.add_argument("name")
    s.add_argument("--ip", required=True, help="instance address with prefix, e.g. 10.213.0.11/24")
    net_opts(s)
    s.add_argument("--emulator-config", default=str(REPO / "tests/hosts/emulator-sandbox.yml"))
    s.add_argument("--account-id")
    s.add_argument("--role")
    s.add_argument("--instance-id", help="default: derived from the name")
    s.add_argument("--availability-zone", default="us-east-1a")
    s.add_argument("--no-imds", action="store_true", help="no metadata service (non-EC2 host)")
    s.add_argument("--imds-no-require-token", action="store_true", help="allow IMDSv1 (token-less) requests")
    s.add_argument("--wheelhouse", help="directory bind-mounted read-only at /opt/wheelhouse")
    s.add_argument("--bind-ro", action="append", help="extra nspawn --bind-ro=SRC[:DST]")
    s.add_argument("--tmpfs-upper", metavar="SIZE", default=os.environ.get("KWIF_TMPFS_UPPER") or None,
                   help="keep the instance's writable layer in a tmpfs of SIZE (e.g. 3g) instead of on disk")
    s.add_argument("--ssh-key", default=str(STATE_ROOT / "ssh" / "id_ed25519"),
                   help="controller private key (created when missing; default %(default)s)")
    s.add_argument("--boot-timeout", type=float, default=90, help="seconds to wait for SSH")
    s.add_argument("--stop-timeout", type=float, default=10)
    s.add_argument("--replace", action="store_true", help="stop a running instance of that name first")
    s.add_argument("--keep-on-failure", action="store_true", help="leave a failed instance for debugging")
    s.set_defaults(func=cmd_up)

    s = sub.add_parser("down", help="stop instances and remove all their traces")
    s.add_argument("names", nargs="*")
    s.add_argument("--all", action="store_true", help="every instance, the emulator, the bridge")
    s.add_argument("--stop-timeout", type=float, default=10, help="seconds of orderly shutdown before SIGKILL")
    s.set_defaults(func=cmd_down)

    s = sub.add_parser("status", help="list instances")
    s.add_argument("--json", action="store_true")
    s.add_argument("--leftovers", action="store_true", help="list any trace on the host; exit 1 if some")
    s.add_argument("--name", action="append", help="with --leftovers: also look for this instance's traces")
    s.add_argument("--bridge", default=DEFAULT_BRIDGE)
    s.add_argument("--anywhere", action="store_true",
                   help="with --leftovers: count traces of any wifhost state dir (for CI after all scenarios)")
    s.set_defaults(func=cmd_status)

    s = sub.add_parser("emulator", help="start/stop the emulator server on the bridge address")
    s.add_argument("action", choices=["start", "stop"])
    s.add_argument("--config", default=str(REPO / "tests/hosts/emulator-sandbox.yml"))
    s.add_argument("--listen", help="HOST:PORT (default: bridge address:8470)")
    s.add_argument("--state", help="emulator state file")
    s.add_argument("--no-tls", action="store_true",
                   help=f"no TLS listener on port {TLS_PORT} (default: one, with the sandbox CA's certificate)")
    net_opts(s)
    s.set_defaults(func=cmd_emulator)

    s = sub.add_parser("exec", help="run a command in an instance over SSH")
    s.add_argument("name")
    s.add_argument("command", nargs=argparse.REMAINDER)
    s.set_defaults(func=cmd_exec)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except WifHostError as exc:
        print(f"wifhost: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("wifhost: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
