"""Timestamped versions, so the emulated cloud can be slow to agree with itself.

Writes are applied at once and reads (GET, getIamPolicy) show them at once; what lags is
enforcement. Every change is remembered with the time it was made, and an enforcing path (STS,
generateAccessToken, Vertex) looks at the version that was current ``delay`` seconds ago:

    a version V applies at time t  iff  V was the current version at t - delay.

So an added grant starts to work ``delay`` seconds after it was written, and a removed one
keeps working for ``delay`` seconds (both as Google documents for IAM: "principals might still
be able to use a recently revoked role ... they might not be able to use a recently granted
role"). Versions are recorded whatever the delays are, so a delay switched on at runtime
applies to changes made before.
"""

from __future__ import annotations

import copy
from typing import Any

from .config import MAX_LAG_SECONDS

HISTORY = "_history"
# "Not there yet" at the time asked about (created later): distinct from any snapshot.
ABSENT: Any = None
# The "since" of a version that was in effect before the emulator recorded anything.
SINCE_EVER = 0.0


def snapshot(resource: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``resource`` without its history."""
    return copy.deepcopy({k: v for k, v in resource.items() if k != HISTORY})


def remember(holder: dict[str, Any], now: float, version: Any, before: Any = ABSENT) -> None:
    """Record ``version`` as current from ``now`` on.

    ``before`` is what was in effect until now for a holder that has no history yet (a seeded
    project policy, say); ABSENT means nothing was (the holder was just created).
    """
    history = holder.get(HISTORY)
    if history is None:
        history = holder[HISTORY] = [] if before is ABSENT else [[SINCE_EVER, before]]
    history.append([now, version])
    _prune(history, now)


def _prune(history: list[list[Any]], now: float) -> None:
    # No delay exceeds MAX_LAG_SECONDS: a version superseded before now - MAX_LAG is never asked for.
    horizon = now - MAX_LAG_SECONDS
    while len(history) > 1 and history[1][0] <= horizon:
        del history[0]


def as_of(holder: dict[str, Any], at: float, current: Any) -> Any:
    """The version current at time ``at`` (ABSENT before the first one); ``current`` when the
    holder has no history (it has been as it is since before the emulator started)."""
    history = holder.get(HISTORY)
    if not history:
        return current
    found = ABSENT
    for since, version in history:
        if since > at:
            break
        found = version
    return found


def lagged(holder: dict[str, Any], now: float, delay: float, current: Any) -> Any:
    """The version an enforcing path sees at ``now`` with a propagation ``delay``."""
    if delay <= 0:
        return current  # no lag: exactly what reads show
    return as_of(holder, now - delay, current)
