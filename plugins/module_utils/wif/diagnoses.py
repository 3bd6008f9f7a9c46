# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The credential check's diagnoses: one table keyed by diagnosis code."""

from __future__ import annotations

# What the verify role waits out on a host (wif_check diagnosis codes, with what is awaited): the
# policy, pool, provider, account or API may be right already and not have reached STS or IAM yet.
_AWAITED = {
    "binding_missing": "IAM propagation",
    "invalid_target": "the pool and provider to reach STS",
    "attribute_condition": "the provider's attribute condition to reach STS",
    "service_account_not_found": "the new service account to become visible",
    "iamcredentials_api_disabled": "the IAM Credentials API enablement to propagate",
}
PROPAGATION_DIAGNOSES = tuple(_AWAITED)


def waiting_for(code):
    """What a wait on diagnosis ``code`` waits for, in words."""
    return _AWAITED.get(code, "Google to agree (%s)" % code)
