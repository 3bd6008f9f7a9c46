# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Type rules for role variables, shared by the roles' input filters.

Role argument specs check types but hand the role the variables unchanged, so a role
sees an int where it expects a string, or one string where it expects a list. These
helpers coerce the unambiguous cases and refuse the rest with ValidationError, which
names the variable and the rule.
"""

from __future__ import annotations

import ipaddress
import math
import posixpath
import re

from ansible_collections.keyless.wif.plugins.module_utils.wif.systemd import ENV_NAME_RE
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import ValidationError

_TRUE = ("true", "yes", "on", "1", "y", "t")
_FALSE = ("false", "no", "off", "0", "n", "f")
POSIX_NAME_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
UNIT_NAME_RE = re.compile(r"[A-Za-z0-9:_.@-]{1,200}")
OCTAL_MODE_RE = re.compile(r"0[0-7]{3}")
# systemd MemoryMax=: bytes with an optional K/M/G/T/P/E suffix, a percentage, or infinity.
SYSTEMD_SIZE_RE = re.compile(r"[0-9]+(\.[0-9]+)?[KMGTPE]?|[0-9]+(\.[0-9]+)?%|infinity")

# Directories that belong to the system: a role must never take one over (chmod, chgrp,
# or remove it on state=absent). A role's own directory must be below one of them.
SYSTEM_DIRS = frozenset((
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/media", "/mnt", "/opt",
    "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/usr", "/usr/bin", "/usr/include", "/usr/lib",
    "/usr/lib64", "/usr/libexec", "/usr/local", "/usr/local/bin", "/usr/local/etc", "/usr/local/lib",
    "/usr/local/sbin", "/usr/local/share", "/usr/sbin", "/usr/share", "/usr/src", "/var", "/var/backups",
    "/var/cache", "/var/lib", "/var/local", "/var/lock", "/var/log", "/var/mail", "/var/opt", "/var/run",
    "/var/spool", "/etc/default", "/etc/pam.d", "/etc/security", "/etc/ssh", "/etc/ssl",
    "/etc/sudoers.d", "/etc/systemd", "/etc/systemd/system", "/etc/cron.d", "/etc/profile.d", "/etc/apt",
    "/etc/init.d",
    "/tmp", "/var/tmp",  # noqa: S108 - paths never to touch, not a temp file in use
))


def prefixed(variables, prefix):
    """(var, field) for a role's variables: var("port") is the value of PREFIXport, field("port") its name."""
    def var(name):
        return variables.get(prefix + name)

    def field(name):
        return prefix + name
    return var, field


def choice(field, value, choices):
    if value not in choices:
        raise ValidationError(field, "must be one of %s" % ", ".join(choices), value)
    return value


def text(field, value, required=False, single_line=True):
    """A string (numbers are refused: an ID typed as a number has lost its form)."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError(field, "must be a string (quote it in YAML)", value)
    if required and not value.strip():
        raise ValidationError(field, "is required and must not be empty")
    if single_line and any(c in value for c in "\r\n\x00"):
        raise ValidationError(field, "must be one line (no newline, carriage return or NUL)", value)
    return value


def hidden_line(field, value, why=""):
    """A one-line string whose value never appears in a message (a secret, an environment value)."""
    if not isinstance(value, str) or any(c in value for c in "\r\n\x00"):
        raise ValidationError(field, "must be one line, no newline, carriage return or NUL%s (value not shown)" % why)
    return value


def string_list(field, value):
    """A list of strings; one string is taken as a list of one."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple)):
        raise ValidationError(field, "must be a list of strings", value)
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise ValidationError("%s[%d]" % (field, index), "must be a string", item)
    return list(value)


def boolean(field, value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ValidationError(field, "must be a boolean (true or false)", value)


def integer(field, value, minimum=None, maximum=None):
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,10}", value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, "must be a whole number", value)
    if minimum is not None and value < minimum:
        raise ValidationError(field, "must be at least %d" % minimum, value)
    if maximum is not None and value > maximum:
        raise ValidationError(field, "must be at most %d" % maximum, value)
    return value


def number(value):
    """A finite float from a number or numeric string (Jinja renders numbers as strings), else None."""
    try:
        result = None if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def seconds(field, value, lowest, highest):
    result = number(value)
    if result is None or not lowest <= result <= highest:
        raise ValidationError(field, "must be a number of seconds from %s to %s" % (lowest, highest), value)
    return result


def mapping(field, value):
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise ValidationError(field, "must be a dict", value)
    return dict(value)


def aws_account_id(field, value):
    """A 12-digit account ID; an int is accepted when it still has 12 digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        if len(str(value)) != 12:
            raise ValidationError(field, "must be a 12-digit AWS account ID; as a YAML number it lost its leading "
                                         "zeros or is too long, so quote it", value)
        value = str(value)
    return text(field, value)


def posix_name(field, value):
    value = text(field, value, required=True)
    if not POSIX_NAME_RE.fullmatch(value):
        raise ValidationError(field, "must be a user or group name (1-32 of a-z, 0-9, _ and -, starting with a "
                                     "letter or _)", value)
    return value


def octal_mode(field, value):
    if not isinstance(value, str) or not OCTAL_MODE_RE.fullmatch(value):
        raise ValidationError(field, 'must be a quoted octal string such as "0640"', value)
    return value


def env_name(field, value):
    if not isinstance(value, str) or not ENV_NAME_RE.fullmatch(value):
        raise ValidationError(field, "must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)", value)
    return value


def ip_address(field, value):
    value = text(field, value, required=True)
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValidationError(field, "must be an IPv4 or IPv6 address", value) from None


def ip_network(field, value):
    value = text(field, value, required=True)
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise ValidationError(field, "must be an IP address or CIDR (for example 10.0.0.0/8)", value) from None


def systemd_size(field, value):
    if value is None or value == "":
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not SYSTEMD_SIZE_RE.fullmatch(value):
        raise ValidationError(field, "must be a systemd size: bytes with an optional K, M, G, T, P or E suffix "
                                     "(for example 1G), a percentage (50%), infinity, or empty for no limit", value)
    return value


def absolute_path(field, value):
    """An absolute, normalised path: no relative parts, no doubled or trailing slashes."""
    value = text(field, value, required=True)
    if not value.startswith("/"):
        raise ValidationError(field, "must be an absolute path (start with /)", value)
    if posixpath.normpath(value) != value or value.startswith("//"):
        raise ValidationError(field, "must be a normalised path (no '.', '..', doubled or trailing slashes)", value)
    return value


def owned_dir(field, value):
    """A directory a role may create, chmod and remove: never a system directory or one directly under /."""
    value = absolute_path(field, value)
    if not _claimable(value):
        raise ValidationError(field, "must be a directory of its own below a system directory (for example "
                                     "/etc/litellm or /opt/litellm), not a system or top-level directory, because "
                                     "the role sets its owner and mode and removes it on state=absent", value)
    return value


def owned_file(field, value):
    """A file the role writes, whose directory the role manages too."""
    value = absolute_path(field, value)
    parent = posixpath.dirname(value)
    if not _claimable(parent):
        raise ValidationError(field, "must be in a directory of its own (for example /etc/litellm/NAME.json), not "
                                     "directly in %s: the role sets that directory's owner and mode" % parent, value)
    return value


def _claimable(directory):
    """Neither a system directory nor one directly under /."""
    return directory not in SYSTEM_DIRS and posixpath.dirname(directory) != "/"
