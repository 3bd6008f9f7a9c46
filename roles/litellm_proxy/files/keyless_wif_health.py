# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Managed by keyless.wif.litellm_proxy: the health timer's entry point. It runs the collection's
# module_utils copied beside it (plugins/module_utils/wif/health.py) with the proxy's virtualenv Python.

from __future__ import annotations

import importlib
import os
import sys


def main():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    health = importlib.import_module("ansible_collections.keyless.wif.plugins.module_utils.wif.health")
    return health.main()


if __name__ == "__main__":
    sys.exit(main())
