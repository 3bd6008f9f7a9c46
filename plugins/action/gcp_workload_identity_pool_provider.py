# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""keyless.wif.gcp_workload_identity_pool_provider: in the controller's worker process when that is the same (plugin_utils/gcp_action.py)."""

from __future__ import annotations

from ansible_collections.keyless.wif.plugins.plugin_utils.gcp_action import GcpModuleAction


class ActionModule(GcpModuleAction):
    """keyless.wif.gcp_workload_identity_pool_provider."""
