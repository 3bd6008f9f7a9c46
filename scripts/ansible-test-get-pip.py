"""Stand-in for the pip bootstrap script ansible-test downloads from its own CI host.

ansible-test creates each sanity virtualenv without pip and then runs a cached copy of
get-pip.py with pip's install arguments. That host is out of reach here, so
scripts/bootstrap caches this file instead: it installs the pip bundled with Python
(ensurepip) and then lets that pip install the requested packages from the package index.
"""

import ensurepip
import os
import subprocess
import sys

GET_PIP_ONLY_FLAGS = {"--no-setuptools", "--no-wheel"}
# ansible-test runs pip with a scrubbed environment (no PIP_CERT, SSL_CERT_FILE...), so a
# TLS-intercepting network's CA bundle must be named in the virtualenv's own pip.conf.
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"

if __name__ == "__main__":
    # ensurepip points PIP_CONFIG_FILE at /dev/null in this process: keep the caller's env.
    pip_env = dict(os.environ)
    ensurepip.bootstrap(upgrade=True, default_pip=True)
    if os.path.exists(SYSTEM_CA_BUNDLE):
        with open(os.path.join(sys.prefix, "pip.conf"), "w", encoding="utf-8") as conf:
            conf.write("[global]\ncert = %s\n" % SYSTEM_CA_BUNDLE)
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_FLAGS]
    sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args], env=pip_env))
