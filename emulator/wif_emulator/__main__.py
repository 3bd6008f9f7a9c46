"""CLI: python -m wif_emulator serve|imds|container-credentials ... (see docs/emulator.md)."""

from __future__ import annotations

import argparse
import sys

from .cli import parse_listen, serve_until_signalled
from .config import ConfigError, load_config
from .container_credentials import main_container_credentials
from .imds import main_imds
from .server import EmulatorServer, tls_server_context


def main_serve(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m wif_emulator serve",
                                     description="Serve the Google + AWS STS emulator on one base URL.")
    parser.add_argument("--config", required=True, help="YAML config file")
    parser.add_argument("--listen", type=parse_listen, default=("127.0.0.1", 8470), help="HOST:PORT (default 127.0.0.1:8470)")
    parser.add_argument("--state", default=None, help="JSON state file (overrides state_file in the config)")
    parser.add_argument("--log-requests", action="store_true", help="log each request to stderr")
    parser.add_argument("--tls-listen", type=parse_listen, default=None,
                        help="HOST:PORT of an extra HTTPS listener (same emulator; needs --tls-cert, --tls-key)")
    parser.add_argument("--tls-cert", help="PEM server certificate (chain) for --tls-listen")
    parser.add_argument("--tls-key", help="PEM private key of --tls-cert")
    args = parser.parse_args(argv)
    if not (args.tls_listen is None) == (args.tls_cert is None) == (args.tls_key is None):
        parser.error("--tls-listen, --tls-cert and --tls-key go together")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    tls_context = None
    if args.tls_listen is not None:
        try:
            tls_context = tls_server_context(args.tls_cert, args.tls_key)
        except OSError as exc:  # ssl.SSLError too
            sys.stderr.write(f"wif-emulator: cannot load the TLS certificate {args.tls_cert} / key {args.tls_key}: {exc}\n")
            return 2
    host, port = args.listen
    try:
        server = EmulatorServer(config, host=host, port=port, state_file=args.state,
                                log_requests=args.log_requests, tls_listen=args.tls_listen,
                                tls_context=tls_context)
    except (ValueError, OSError) as exc:
        sys.stderr.write(f"wif-emulator: cannot load state: {exc}\n")
        return 2
    return serve_until_signalled(server, "wif-emulator", args.listen)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print("usage: python -m wif_emulator {serve,imds,container-credentials} [options]\n"
              "  serve  --config FILE [--listen HOST:PORT] [--state FILE] [--log-requests]\n"
              "         [--tls-listen HOST:PORT --tls-cert FILE --tls-key FILE]\n"
              "  imds   --config FILE --listen HOST:PORT --account-id ID --role NAME\n"
              "         --instance-id ID --availability-zone AZ [--no-require-token]\n"
              "  container-credentials --config FILE --listen HOST:PORT --mode ecs|pod-identity\n"
              "         --account-id ID --role NAME [--relative-uri PATH] [--target-host HOST]")
        return 0 if args else 2
    if args[0] == "serve":
        return main_serve(args[1:])
    if args[0] == "imds":
        return main_imds(args[1:])
    if args[0] == "container-credentials":
        return main_container_credentials(args[1:])
    sys.stderr.write(f"unknown command {args[0]!r}; use serve, imds or container-credentials\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
