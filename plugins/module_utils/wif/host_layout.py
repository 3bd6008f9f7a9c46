# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Where the host roles put things on an EC2 host: one home for every default path and port.

The external_account, litellm_proxy and verify roles read these through the
``keyless.wif.host_layout`` lookup; modules that run on the host import them.
"""

from __future__ import annotations

CONFIG_DIR = "/etc/litellm"
# The external_account JSON the proxy's vertex_credentials and the verify check read.
CREDENTIAL_PATH = CONFIG_DIR + "/gcp_aws_external_account.json"
PROXY_USER = "litellm"
PROXY_GROUP = "litellm"
PROXY_HOME = "/var/lib/litellm"
PROXY_SERVICE_NAME = "litellm-proxy"
PROXY_ENVIRONMENT_FILE = "%s/%s.env" % (CONFIG_DIR, PROXY_SERVICE_NAME)
PROXY_VENV = "/opt/litellm"
# The litellm_proxy role installs each requirements set into <venv>/releases/<sha256>/ and points
# <venv>/current at the one the service runs (module_utils/wif/proxy_release.py).
PROXY_RELEASES_DIR = "releases"
PROXY_CURRENT_LINK = "current"
PROXY_PYTHON = "%s/%s/bin/python" % (PROXY_VENV, PROXY_CURRENT_LINK)
PROXY_LISTEN_ADDRESS = "127.0.0.1"
PROXY_PORT = 4000
PROXY_URL = "http://%s:%d" % (PROXY_LISTEN_ADDRESS, PROXY_PORT)
# The litellm_proxy health timer's code goes to <this>/<litellm_proxy_service_name>-health.
PROXY_HEALTH_LIB_PARENT = "/usr/local/lib"
# The name scripts/wheelhouse gives the pinned requirements inside a wheelhouse.
WHEELHOUSE_REQUIREMENTS = "requirements-proxy.txt"


def proxy_current_venv(venv):
    """The virtualenv the proxy service runs: the current release's, under the venv root venv."""
    return "%s/%s" % (venv.rstrip("/"), PROXY_CURRENT_LINK)


def proxy_current_python(venv):
    """The proxy's interpreter under the venv root venv (what the service and the health timer run)."""
    return proxy_current_venv(venv) + "/bin/python"


LAYOUT = {
    "config_dir": CONFIG_DIR,
    "credential_path": CREDENTIAL_PATH,
    "proxy_user": PROXY_USER,
    "proxy_group": PROXY_GROUP,
    "proxy_home": PROXY_HOME,
    "proxy_service_name": PROXY_SERVICE_NAME,
    "proxy_environment_file": PROXY_ENVIRONMENT_FILE,
    "proxy_venv": PROXY_VENV,
    "proxy_python": PROXY_PYTHON,
    "proxy_listen_address": PROXY_LISTEN_ADDRESS,
    "proxy_port": PROXY_PORT,
    "proxy_url": PROXY_URL,
    "wheelhouse_requirements": WHEELHOUSE_REQUIREMENTS,
}
