"""Commands, processes, cgroups and mounts on the host."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from .state import WifHostError

CGROUP_V1 = Path("/sys/fs/cgroup/systemd")
CGROUP_V2 = Path("/sys/fs/cgroup/unified")


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


def cgroup_dirs(group: str) -> list[Path]:
    return [CGROUP_V1 / group, CGROUP_V2 / group]


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


def mounts() -> list[str]:
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mp = line.split()[4]
        out.append(mp.encode().decode("unicode_escape"))
    return out


def is_mountpoint(path: Path) -> bool:
    return str(path) in mounts()


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
