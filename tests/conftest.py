"""Test-wide safety net: nothing under tests/ may reach a real metadata service.

boto3 and google-auth both probe 169.254.169.254 when they find no credentials; from the
machine's own namespace that could reach a real cloud's metadata service, so every probe
is switched off or pointed at a closed loopback port before any test module is imported.
"""

import os

for _name in list(os.environ):
    if _name.startswith(("AWS_", "GOOGLE_", "GCP_", "CLOUDSDK_")):
        del os.environ[_name]

os.environ.update(
    {
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "NO_GCE_CHECK": "True",
        "GCE_METADATA_HOST": "127.0.0.1:9",
        "GCE_METADATA_IP": "127.0.0.1:9",
    }
)

# Make the checkout importable as ansible_collections.keyless.wif (unit tests import
# module_utils that way, and ansible-playbook subprocesses find the collection there).
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
if REPO_ROOT.parents[1].name == "ansible_collections":
    # Already at ansible_collections/keyless/wif: the copy ansible-test units runs in.
    COLLECTIONS_PATH = REPO_ROOT.parents[2]
else:
    COLLECTIONS_PATH = REPO_ROOT / "build" / "collections"
    _link = COLLECTIONS_PATH / "ansible_collections" / "keyless" / "wif"
    _link.parent.mkdir(parents=True, exist_ok=True)
    if not _link.is_symlink() or _link.resolve() != REPO_ROOT:
        if _link.is_symlink():
            _link.unlink()
        _link.symlink_to(REPO_ROOT)
if str(COLLECTIONS_PATH) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS_PATH))
os.environ["ANSIBLE_COLLECTIONS_PATH"] = str(COLLECTIONS_PATH)
# The GCP modules' token cache: one private directory for the run, never the user's own.
if "GCP_TOKEN_CACHE_DIR" not in os.environ:
    import tempfile

    os.environ["GCP_TOKEN_CACHE_DIR"] = os.path.join(tempfile.mkdtemp(prefix="keyless-wif-test-"), "tokens")


def pytest_configure(config):
    # Registered here, not in pytest.ini: ansible-test units runs pytest with its own ini file.
    config.addinivalue_line("markers", "slow: takes more than a few seconds (still always run by scripts/test)")
