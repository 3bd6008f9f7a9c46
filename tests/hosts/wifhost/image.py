"""The cached Debian 12 image every instance boots from (debootstrap + configuration)."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from .proc import run
from .state import CACHE_DIR, WifHostError, log, require_root, write_file

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


def _mask(root: Path, unit: str) -> None:
    link = root / "etc/systemd/system" / unit
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to("/dev/null")


def configure_image(root: Path, mirror: str) -> None:
    """Turns a fresh debootstrap tree into a reusable instance template."""
    write_file(root / "etc/apt/sources.list", f"deb {mirror} {SUITE} main\n")
    # Empty machine-id: nspawn hands each boot its own id. dbus reads the same file.
    write_file(root / "etc/machine-id", "", 0o444)
    dbus_id = root / "var/lib/dbus/machine-id"
    if dbus_id.exists() or dbus_id.is_symlink():
        dbus_id.unlink()
    dbus_id.parent.mkdir(parents=True, exist_ok=True)
    dbus_id.symlink_to("/etc/machine-id")
    # Host keys are generated per instance at first boot (see keyless-wif-ssh-keygen.service).
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    write_file(root / "etc/ssh/sshd_config.d/keyless-wif.conf",
           "# keyless.wif test instance: root by key only.\n"
           "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
           "KbdInteractiveAuthentication no\nUseDNS no\nMaxStartups 50:30:100\n")
    write_file(root / "etc/systemd/system/keyless-wif-ssh-keygen.service",
           "[Unit]\nDescription=Generate this instance's SSH host keys\n"
           "Before=ssh.service\nConditionPathExists=!/etc/ssh/ssh_host_ed25519_key\n\n"
           "[Service]\nType=oneshot\nExecStart=/usr/bin/ssh-keygen -A\n")
    write_file(root / "etc/systemd/system/ssh.service.d/keyless-wif.conf",
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
    write_file(root / "etc/hosts", "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n")
    write_file(root / "etc/resolv.conf", "# keyless.wif test instance: no DNS (no route out)\n")
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
        write_file(tmp / "stamp.json", json.dumps(stamp, indent=2) + "\n")
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
