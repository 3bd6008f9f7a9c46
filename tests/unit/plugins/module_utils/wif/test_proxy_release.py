"""The LiteLLM proxy's releases: hash-pinned requirements, one virtualenv per requirements set, pruning."""

from __future__ import annotations

import hashlib

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.keyless.wif.plugins.filter import litellm_proxy_release, litellm_proxy_release_prune
from ansible_collections.keyless.wif.plugins.module_utils.wif import host_inputs, proxy_release
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import ValidationError
from ansible_collections.keyless.wif.tests.unit.plugins.filter.proxy_settings import SETTINGS as BASE_SETTINGS

H1 = "a" * 64
H2 = "0123456789abcdef" * 4
RELEASE = litellm_proxy_release.FilterModule().filters()["litellm_proxy_release"]
PRUNE = litellm_proxy_release_prune.FilterModule().filters()["litellm_proxy_release_prune"]
SETTINGS = dict(BASE_SETTINGS, litellm_proxy_require_hashes=True, litellm_proxy_keep_releases=2)


@pytest.mark.parametrize("text", [
    "litellm==1.108.14 --hash=sha256:%s\n" % H1,
    "litellm==1.108.14 --hash=sha256:%s --hash=sha256:%s\n" % (H1, H2),
    "# comment\n\nlitellm[proxy]==1.108.14 \\\n    --hash=sha256:%s \\\n    --hash=sha256:%s\n" % (H1, H2),
    'async-timeout==5.0.1 ; python_full_version < "3.11.3" --hash=sha256:%s\n' % H1,
])
def test_pinned_hashed_requirements_pass(text):
    assert proxy_release.requirement_problems(text) == []


@pytest.mark.parametrize(("text", "line", "needle"), [
    ("litellm==1.108.14\n", 1, "no --hash"),
    ("litellm>=1.108 --hash=sha256:%s\n" % H1, 1, "not pinned with =="),
    ("litellm\n", 1, "not pinned with =="),
    ("# x\nok==1 --hash=sha256:%s\nlitellm==1.82.7 --hash=sha256:abc\n" % H1, 3, "no --hash"),
    ("litellm==1.0 --hash=md5:%s\n" % H1, 1, "no --hash"),
    ("litellm==1.0 --hash=sha256:%s --pre\n" % H1, 1, "not a --hash option"),
    ("--index-url https://pypi.example/simple\n", 1, "pip option"),
    ("-e git+https://example/x.git#egg=x\n", 1, "pip option"),
    ("# only a comment\n", 0, "no requirement"),
])
def test_unpinned_or_unhashed_requirements_are_named_by_line(text, line, needle):
    problems = proxy_release.requirement_problems(text)
    assert problems and problems[0][0] == line and needle in problems[0][1], problems


def test_release_is_named_by_the_sha256_of_its_requirements():
    text = "litellm==1.108.14 --hash=sha256:%s\n" % H1
    release = RELEASE(dict(SETTINGS, litellm_proxy_wheelhouse="/opt/wheelhouse"), "", "", text)
    name = hashlib.sha256(text.encode()).hexdigest()[:16]
    assert release["venv"] == "/opt/litellm/releases/" + name
    assert release["link_target"] == "releases/" + name
    assert release["current"] == "/opt/litellm/current"
    assert release["current_litellm"] == "/opt/litellm/current/bin/litellm"
    assert release["requirements_text"] == text
    assert release["install_command"] == ("/opt/litellm/releases/%s/bin/pip install --disable-pip-version-check --no-input "
                                          "--require-hashes -r /opt/litellm/releases/%s/requirements.txt "
                                          "--no-index --find-links /opt/wheelhouse" % (name, name))
    other = RELEASE(SETTINGS, "", "", text.replace("1.108.14", "1.108.15"))
    assert other["id"] != release["id"]


def test_the_filter_refuses_an_unhashed_host_file_naming_the_variable():
    settings = dict(SETTINGS, litellm_proxy_requirements_file="/srv/req.txt")
    with pytest.raises(AnsibleFilterError, match=r"litellm_proxy_requirements_file \(/srv/req.txt\): line 2 .*no --hash"
                                                 r".*litellm_proxy_require_hashes: false"):
        RELEASE(settings, "/srv/req.txt", "# x\nlitellm==1.82.7\n", "")
    with pytest.raises(AnsibleFilterError, match=r"litellm_proxy_wheelhouse \(/opt/w/requirements-proxy.txt\): line 1"):
        RELEASE(SETTINGS, "/opt/w/requirements-proxy.txt", "litellm==1.82.7\n", "")


def test_the_opt_out_installs_without_hash_checking():
    release = RELEASE(dict(SETTINGS, litellm_proxy_require_hashes=False), "", "", "litellm==1.108.14\n")
    assert "--require-hashes" not in release["install_command"]


def test_packages_without_hashes_fail_the_input_check_naming_the_entry():
    packages = ["litellm==1.108.14 --hash=sha256:%s" % H1, "google-auth==2.63.0"]
    with pytest.raises(ValidationError) as caught:
        host_inputs.check_litellm_proxy(dict(SETTINGS, litellm_proxy_packages=packages))
    assert caught.value.field == "litellm_proxy_packages[1]"
    assert "no --hash" in str(caught.value) and "litellm_proxy_require_hashes" in str(caught.value)
    host_inputs.check_litellm_proxy(dict(SETTINGS, litellm_proxy_packages=packages, litellm_proxy_require_hashes=False))
    host_inputs.check_litellm_proxy(dict(SETTINGS, litellm_proxy_packages=packages[:1]))


@pytest.mark.parametrize(("change", "field"), [
    ({"litellm_proxy_require_hashes": "maybe"}, "litellm_proxy_require_hashes"),
    ({"litellm_proxy_keep_releases": -1}, "litellm_proxy_keep_releases"),
    ({"litellm_proxy_keep_releases": "two"}, "litellm_proxy_keep_releases"),
])
def test_release_variables_are_checked(change, field):
    with pytest.raises(ValidationError) as caught:
        host_inputs.check_litellm_proxy(dict(SETTINGS, **change))
    assert caught.value.field == field


def test_packages_become_the_release_text():
    packages = ["litellm==1.108.14 --hash=sha256:%s" % H1]
    release = RELEASE(dict(SETTINGS, litellm_proxy_packages=packages), "", "", "role file")
    assert release["requirements_text"].endswith(packages[0] + "\n")
    assert release["source"] == "litellm_proxy_packages"


def _marker(name, mtime):
    return {"path": "/opt/litellm/releases/%s/.installed" % name, "mtime": mtime}


def test_prune_keeps_the_current_and_the_newest_others():
    found = [_marker("a", 1), _marker("b", 2), _marker("c", 3), _marker("d", 4)]
    assert PRUNE(found, "/opt/litellm", "releases/d", 2) == ["/opt/litellm/releases/a"]
    assert PRUNE(found, "/opt/litellm", "releases/a", 2) == ["/opt/litellm/releases/b"]
    assert PRUNE(found, "/opt/litellm", "releases/d", 0) == ["/opt/litellm/releases/%s" % name for name in "cba"]
    assert PRUNE(found, "/opt/litellm", "releases/d", 5) == []


def test_prune_counts_the_flat_virtualenv_as_a_release():
    found = [_marker("b", 20), _marker("c", 30)]
    assert PRUNE(found, "/opt/litellm", "releases/c", 1, 10.0) == [
        "/opt/litellm/" + entry for entry in proxy_release.LEGACY_ENTRIES]
    assert PRUNE(found, "/opt/litellm", ".", 1, 10.0) == ["/opt/litellm/releases/b"]
    assert PRUNE(found, "/opt/litellm", "releases/c", 2, 10.0) == []
