# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What systemd gives a service: its EnvironmentFile format."""

from __future__ import annotations

import re

ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def read_environment_file(path):
    """Variables of a systemd EnvironmentFile: KEY=VALUE lines, # and ; comments, quoted values.

    Double-quoted values take backslash escapes (the litellm_proxy role writes \\ and \"),
    single-quoted ones are literal. Raises ValueError naming the line for anything else.
    """
    variables = {}
    with open(path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, 1):
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            key, sep, value = line.partition("=")
            key = key.strip()
            if not sep or not ENV_NAME_RE.fullmatch(key):
                raise ValueError("%s line %d is not KEY=VALUE" % (path, number))
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = re.sub(r'\\(.)', r"\1", value[1:-1])
            elif len(value) >= 2 and value[0] == value[-1] == "'":
                value = value[1:-1]
            variables[key] = value
    return variables
