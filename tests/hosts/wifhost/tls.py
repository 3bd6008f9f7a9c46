"""The machine's sandbox CA, the emulator's server certificate and the names instances resolve to it."""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import os
import shutil
import time
from pathlib import Path

from .net import netns_exec
from .proc import run
from .state import CACHE_DIR, TLS_PORT, WifHostError, log, read_json, write_file, write_json

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
    lines = ["# keyless.wif test instance (written by wifhost up). The Google and AWS endpoints the",
             f"# roles call by their real names are the emulator on the test bridge, {host_ip} (TLS on {TLS_PORT}).",
             "127.0.0.1\tlocalhost", "::1\t\tlocalhost ip6-localhost ip6-loopback", ""]
    lines += [f"{host_ip}\t{n}" for n in (names or SANDBOX_NAMES)]
    return "\n".join(lines) + "\n"


def install_sandbox_ca(name: str, root: Path, ca_cert: Path) -> None:
    """Adds the sandbox CA to the instance's system store (before boot, in its own namespace)."""
    pem = ca_cert.read_text()
    write_file(root / INSTANCE_CA_PATH.lstrip("/"), pem)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    netns_exec(name, ["chroot", str(root), "update-ca-certificates"], timeout=120, env=env)
    if pem.strip() not in (root / INSTANCE_CA_BUNDLE.lstrip("/")).read_text():
        raise WifHostError(f"update-ca-certificates in {name} did not add the sandbox CA to {INSTANCE_CA_BUNDLE}")
