"""EC2-like test hosts for keyless.wif: systemd-nspawn containers on a private bridge.

Each instance is a Debian 12 container booted by systemd-nspawn from a cached debootstrap
image through its own overlay root. It lives in its own network namespace (veth on a test
bridge, own IP, no default route) and has the emulator's metadata server answering on
169.254.169.254:80 inside that namespace only. Its /etc/hosts points the real Google and AWS
endpoint names at the emulator's TLS listener on the bridge, and its system CA store trusts the
machine's sandbox CA. See docs/test-hosts.md.

Stdlib only (the `cryptography` package is used for the sandbox CA when importable, else the
openssl command); run as root:  python3 tests/hosts/wifhost {image,up,down,status,emulator,exec} ...

Modules: state (paths, names, lock, JSON state), proc (commands, cgroups, processes, mounts),
image (the Debian image), net (bridge, firewall, namespaces, reaping stale runs), tls (sandbox
CA, endpoint names), instance (up, down, exec), status, emulator (the server process), cli.
"""
