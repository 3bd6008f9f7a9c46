"""`status`: what runs, and (--leftovers) every trace a state dir could leave on the host."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from . import state
from .net import fw_chain, link_exists, net_meta
from .proc import CGROUP_V1, CGROUP_V2, cgroup_dirs, cgroup_pids, mounts, nspawn_processes, pid_alive, run
from .runtimes import agent_cgroup
from .state import EMULATOR_CGROUP, NSPAWN_RUN, NSPAWN_TMPFS_MARKER, inst_dir, instance_names, netns_path, read_json, veth_host
from .tls import INSTANCE_CA_BUNDLE, INSTANCE_CA_PATH, SANDBOX_NAMES, TLS_DIR


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
        found += [f"cgroup {d}" for g in (f"nspawn-{name}", f"kwif-imds-{name}", agent_cgroup(name)) for d in cgroup_dirs(g)
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
    found += [f"mount {m}" for m in mounts() if m.startswith(str(state.STATE_ROOT) + "/")]
    if NSPAWN_TMPFS_MARKER.exists() and not nspawn_processes():
        found.append(f"mount {NSPAWN_RUN} (ours, no nspawn left)")
    if pid_alive(read_json(state.STATE_ROOT / "emulator.json").get("pid")):
        found.append("emulator server")
    found += [f"process {p}" for p in nspawn_processes(state.STATE_ROOT / "instances")]
    return found


def cmd_status(args: argparse.Namespace) -> int:
    out: dict = {"instances": [], "network": net_meta(), "emulator": read_json(state.STATE_ROOT / "emulator.json"),
                 # the CA as the instances see it (system store) and where it lives on this machine
                 "tls": {"ca_cert": INSTANCE_CA_PATH, "ca_bundle": INSTANCE_CA_BUNDLE,
                         "ca_cert_host": str(TLS_DIR / "ca.crt"), "names": SANDBOX_NAMES}}
    if out["emulator"]:
        out["emulator"]["running"] = pid_alive(out["emulator"].get("pid"))
    for name in instance_names():
        info = read_json(inst_dir(name) / "instance.json")
        info["running"] = pid_alive(info.get("nspawn_pid"))
        info["imds_running"] = bool(cgroup_pids(f"kwif-imds-{name}"))
        info["agent_running"] = bool(cgroup_pids(agent_cgroup(name)))
        out["instances"].append(info)
    if args.leftovers:
        out["leftovers"] = sorted(set(leftovers(args.name or [], args.bridge, args.anywhere)))
    if args.json or args.leftovers:
        print(json.dumps(out, indent=2))
    else:
        for i in out["instances"]:
            aws = i.get("aws") or {}
            print(f"{i.get('name', '?'):16} {i.get('address', '?'):15} "
                  f"{'running' if i['running'] else 'STOPPED':8} {i.get('runtime', 'ec2'):12} "
                  f"imds={'up' if i['imds_running'] else 'down':5} agent={'up' if i['agent_running'] else '-':3} "
                  f"{aws.get('account_id', '-')}/{aws.get('role', '-')}")
        emu = out["emulator"]
        tls_url = f" and {emu['tls_url']}" if emu.get("tls_url") else ""
        print(f"emulator: {'running at ' + emu['url'] + tls_url if emu.get('running') else 'not running'}")
    return 1 if args.leftovers and out["leftovers"] else 0
