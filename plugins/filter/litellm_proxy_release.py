# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: litellm_proxy_release
short_description: The versioned virtualenv the litellm_proxy role installs a requirements set into
version_added: 0.2.0
description:
  - From the C(keyless.wif.litellm_proxy) role's variables and the text of the requirements file it installs, the
    release's paths (C(<litellm_proxy_venv>/releases/<sha256 of the text>)) and its pip command line
    (C(plugins/module_utils/wif/proxy_release.py)).
  - With C(litellm_proxy_require_hashes) true (the default) it fails, naming O(source), when a requirement is not
    pinned with C(==) or has no C(--hash=sha256:...).
  - With C(litellm_proxy_prometheus) true (or C(prometheus) among the callbacks of C(litellm_proxy_litellm_settings)) it
    fails when the requirements list no C(prometheus-client) (nor C(litellm[proxy-runtime])).
author:
  - keyless.wif maintainers (@keyless-wif)
options:
  _input:
    description: The role's variables, keyed by their full names (C(litellm_proxy_venv), ...).
    type: dict
    required: true
  host_file:
    description:
      - The requirements file on the host the role installs from (P(keyless.wif.litellm_proxy_requirements_source#filter)),
        or an empty string for C(litellm_proxy_packages) or the role's own file.
    type: str
    required: true
  host_text:
    description: The content of O(host_file).
    type: str
    default: ""
  role_text:
    description: The role's own C(files/requirements.txt), used when O(host_file) and C(litellm_proxy_packages) are empty.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Name the release
  ansible.builtin.set_fact:
    release: "{{ litellm_proxy__variables | keyless.wif.litellm_proxy_release('', '', lookup('ansible.builtin.file', 'requirements.txt')) }}"
"""

RETURN = r"""
_value:
  description: The release's values, keyed by name.
  type: dict
  contains:
    id:
      description: The first 16 hex digits of the sha256 of the requirements text.
      type: str
    venv:
      description: The release's virtualenv, C(<root>/releases/<id>).
      type: str
    link_target:
      description: What C(<root>/current) points at when the service runs this release (C(releases/<id>)).
      type: str
    current:
      description: The C(current) symbolic link the service's C(ExecStart) goes through.
      type: str
    requirements:
      description: Where the requirements file is kept inside the release.
      type: str
    requirements_text:
      description: The requirements file's text (what is written to RV(_value.requirements)).
      type: str
    source:
      description: Where the requirements come from, as the error messages name it.
      type: str
    current_litellm:
      description: The C(litellm) executable the service runs, through the C(current) link.
      type: str
    marker:
      description: The file written after pip succeeded; a release without it is not installed.
      type: str
    install_command:
      description: The pip command line that installs the release (C(--require-hashes) unless turned off).
      type: str
    keep:
      description: How many previous releases to keep (C(litellm_proxy_keep_releases)).
      type: int
"""

import shlex

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible_collections.keyless.wif.plugins.module_utils.wif import proxy_config, proxy_release


def litellm_proxy_release(settings, host_file, host_text="", role_text=""):
    if not isinstance(settings, dict):
        raise AnsibleFilterError("litellm_proxy_release expects a dict of the role's variables")
    text, source = proxy_release.requirements_choice(settings, host_file or "", host_text or "", role_text or "")
    require_hashes = boolean(settings.get("litellm_proxy_require_hashes", True), strict=False)
    if require_hashes:
        for number, rule in proxy_release.requirement_problems(text):
            raise AnsibleFilterError("%s: line %d %s; %s" % (source, number, rule, proxy_release.HASH_RULE))
    if proxy_release.prometheus_client_missing(settings, text):
        raise AnsibleFilterError("%s: lists no prometheus-client; %s" % (source, proxy_release.PROMETHEUS_RULE))
    result = proxy_release.release(settings["litellm_proxy_venv"], text)
    words = [result["pip"], "install", "--disable-pip-version-check", "--no-input"]
    if require_hashes:
        words.append("--require-hashes")
    words.extend(("-r", shlex.quote(result["requirements"])))
    pip_args = proxy_config.pip_arguments(settings.get("litellm_proxy_wheelhouse") or "",
                                          settings.get("litellm_proxy_pip_index_url") or "",
                                          settings.get("litellm_proxy_pip_extra_args") or "")
    if pip_args:
        words.append(pip_args)
    result["install_command"] = " ".join(words)
    result["requirements_text"] = text
    result["source"] = source
    result["current_litellm"] = proxy_release.current_executable(result["root"], "litellm")
    result["keep"] = int(settings.get("litellm_proxy_keep_releases", proxy_release.DEFAULT_KEEP))
    return result


class FilterModule:
    def filters(self):
        return {"litellm_proxy_release": litellm_proxy_release}
