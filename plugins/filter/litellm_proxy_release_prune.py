# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: litellm_proxy_release_prune
short_description: The old LiteLLM proxy virtualenvs to remove
version_added: 0.2.0
description:
  - From the releases found under C(<litellm_proxy_venv>/releases), the paths to remove so that at most O(keep)
    releases remain besides the current one; the newest (by the mtime of their C(.installed) marker, touched when a
    release becomes current) are kept (C(plugins/module_utils/wif/proxy_release.py)).
  - A flat virtualenv from before releases (C(current) pointing at C(.)) counts as a release, dated O(legacy_mtime).
author:
  - keyless.wif maintainers (@keyless-wif)
options:
  _input:
    description: The C(files) of an M(ansible.builtin.find) of the releases' C(.installed) markers (C(path), C(mtime)).
    type: list
    elements: dict
    required: true
  venv:
    description: The venv root, C(litellm_proxy_venv).
    type: str
    required: true
  current:
    description: The C(current) link's target (C(releases/<id>) or C(.)).
    type: str
    required: true
  keep:
    description: How many releases to keep besides the current one.
    type: int
    default: 2
  legacy_mtime:
    description: The flat virtualenv's date, or none when the host has none.
    type: float
"""

EXAMPLES = r"""
- name: Old releases
  ansible.builtin.debug:
    msg: "{{ found.files | keyless.wif.litellm_proxy_release_prune('/opt/litellm', 'releases/abc', 2) }}"
"""

RETURN = r"""
_value:
  description: Absolute paths to remove.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.keyless.wif.plugins.module_utils.wif import proxy_release


def litellm_proxy_release_prune(files, venv, current, keep=proxy_release.DEFAULT_KEEP, legacy_mtime=None):
    if not isinstance(files, list):
        raise AnsibleFilterError("litellm_proxy_release_prune expects the files of an ansible.builtin.find")
    return proxy_release.prune(venv, files, current, keep, legacy_mtime)


class FilterModule:
    def filters(self):
        return {"litellm_proxy_release_prune": litellm_proxy_release_prune}
