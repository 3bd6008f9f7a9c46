"""One instance's life: validate, boot (netns, IMDS, overlay, nspawn, SSH), tear down, exec."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import ipaddress
import json
import re
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

from . import runtimes
from .emulator import stop_emulator
from .image import build_image
from .net import ensure_bridge, ensure_nspawn_tmpfs, gc_shared, link_exists, parse_host_addr, setup_netns, wait_tcp_in_netns
from .proc import cgroup_kill, cgroup_pids, cgroup_remove, container_init, mounts, pid_alive, run, signal_pids, spawn_in_cgroup, unmount_under
from .state import (
    EMULATOR_PATH,
    NSPAWN_RUN,
    WifHostError,
    check_name,
    inst_dir,
    instance_names,
    log,
    netns_path,
    read_json,
    require_root,
    state_lock,
    veth_host,
    write_file,
    write_json,
)
from .tls import INSTANCE_CA_BUNDLE, INSTANCE_CA_PATH, SANDBOX_NAMES, ensure_sandbox_tls, install_sandbox_ca, instance_hosts


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


def instance_id_for(name: str) -> str:
    return "i-0" + hashlib.sha256(b"instance:" + name.encode()).hexdigest()[:16]


def has_imds(args: argparse.Namespace) -> bool:
    """Only the ec2 runtime has instance metadata (and not with --no-imds)."""
    return args.runtime == "ec2" and not args.no_imds


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
    if args.runtime not in runtimes.RUNTIMES:
        raise WifHostError(f"--runtime {args.runtime!r}: one of {', '.join(runtimes.RUNTIMES)}")
    runtimes.validate(args)
    if has_imds(args) or args.runtime != "ec2":
        if not args.account_id or not re.fullmatch(r"\d{12}", args.account_id):
            raise WifHostError("--account-id: required (12 digits) unless --no-imds (runtime ec2)")
        if not args.role or not re.fullmatch(r"[\w+=,.@-]{1,64}", args.role):
            raise WifHostError("--role: required, an IAM role name ([A-Za-z0-9+=,.@_-], 1-64 chars)")
        if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d[a-z]", args.availability_zone):
            raise WifHostError(f"--availability-zone {args.availability_zone!r}: must look like us-east-1a")
        if has_imds(args) and args.instance_id and not re.fullmatch(r"i-[0-9a-f]{8,17}", args.instance_id):
            raise WifHostError(f"--instance-id {args.instance_id!r}: must look like i-0123456789abcdef0")
        if not args.emulator_config or not Path(args.emulator_config).is_file():
            raise WifHostError(f"--emulator-config {args.emulator_config!r}: file required for the IMDS or agent")
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

    info["runtime"], info["environment"] = args.runtime, {}
    if args.runtime != "ec2":
        runtimes.start_agent(args, name, info, d)
    elif not args.no_imds:
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
    write_file(root / "etc/hostname", name + "\n")
    pub = Path(str(key) + ".pub").read_text()
    (root / "root/.ssh").mkdir(mode=0o700, exist_ok=True)
    write_file(root / "root/.ssh/authorized_keys", pub, 0o600)
    # The real endpoint names resolve to the emulator, whose certificate the system store trusts.
    host_ip = str(parse_host_addr(net["host_addr"]).ip)
    write_file(root / "etc/hosts", instance_hosts(host_ip))
    install_sandbox_ca(name, root, Path(ensure_sandbox_tls()["ca_cert"]))
    info["tls"] = {"ca_cert": INSTANCE_CA_PATH, "ca_bundle": INSTANCE_CA_BUNDLE, "endpoints_address": host_ip,
                   "names": SANDBOX_NAMES}
    write_file(root / "etc/keyless-wif-instance.json", json.dumps(
        {k: info[k] for k in ("name", "address", "host_addr", "runtime", "environment") if k in info}
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
    token = runtimes.token_for(args)
    if token:
        runtimes.install_token(ssh_argv(key, str(ip.ip)), *token)
        info["token_file"] = token[0]
    return info


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
    agent_group = runtimes.agent_cgroup(name)
    if cgroup_pids(agent_group):
        signal_pids(cgroup_pids(agent_group), signal.SIGTERM)
        cgroup_kill(agent_group, 3)
        note("credentials agent stopped")
    cgroup_remove(agent_group)
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


def cmd_exec(args: argparse.Namespace) -> int:
    """Runs a command over SSH in an instance (debug helper)."""
    info = read_json(inst_dir(check_name(args.name)) / "instance.json")
    if not info:
        raise WifHostError(f"no instance {args.name}")
    # one shell-quoted string: ssh hands the remote shell a single command line
    return subprocess.call(ssh_argv(Path(info["identity_file"]), info["address"], shlex.join(args.command)))
