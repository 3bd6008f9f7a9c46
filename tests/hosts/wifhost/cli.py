"""The command line: python3 tests/hosts/wifhost {image,up,down,status,emulator,exec} ..."""

from __future__ import annotations

import argparse
import os
import sys

from . import __doc__ as package_doc
from . import state
from .emulator import cmd_emulator
from .image import cmd_image
from .instance import cmd_down, cmd_exec, cmd_up
from .runtimes import DEFAULT_SERVICE_ACCOUNT, RUNTIMES
from .state import DEFAULT_BRIDGE, DEFAULT_EMULATOR_PORT, DEFAULT_HOST_ADDR, DEFAULT_PYTHON, REPO, TLS_PORT, WifHostError
from .status import cmd_status


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wifhost", description=package_doc.split("\n\n")[0])
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
    s.add_argument("--runtime", default="ec2", choices=RUNTIMES,
                   help="AWS runtime to imitate: ec2 (IMDS), irsa (EKS web identity token), pod-identity (EKS Pod "
                        "Identity agent on 169.254.170.23), ecs (task role endpoint on 169.254.170.2); "
                        "the non-ec2 ones have no IMDS (default %(default)s)")
    s.add_argument("--service-account", default=DEFAULT_SERVICE_ACCOUNT,
                   help="irsa/pod-identity: the Kubernetes NAMESPACE/NAME the token is for (default %(default)s)")
    s.add_argument("--imds-no-require-token", action="store_true", help="allow IMDSv1 (token-less) requests")
    s.add_argument("--wheelhouse", help="directory bind-mounted read-only at /opt/wheelhouse")
    s.add_argument("--bind-ro", action="append", help="extra nspawn --bind-ro=SRC[:DST]")
    s.add_argument("--tmpfs-upper", metavar="SIZE", default=os.environ.get("KWIF_TMPFS_UPPER") or None,
                   help="keep the instance's writable layer in a tmpfs of SIZE (e.g. 3g) instead of on disk")
    s.add_argument("--ssh-key", default=str(state.STATE_ROOT / "ssh" / "id_ed25519"),
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
