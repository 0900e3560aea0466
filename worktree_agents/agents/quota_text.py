"""When a spent quota resets, read from what Claude Code or the Anthropic API said. Pure.

Three wordings are known (the CLI puts the API's error message in its result text):
- an API spend limit (HTTP 400): "You have reached your specified API usage limits. You
  will regain access on 2026-04-01 at 00:00 UTC.";
- a Claude subscription's limit, as Claude Code 2.x words it: "You've hit your limit ·
  resets 8pm (Asia/Tbilisi)", "usage limit reached · resets at 14:05";
- Claude Code 1.x: "Claude AI usage limit reached|1762952400" (a Unix time).

Claude Code also reports a subscription's limit as a `rate_limit_event` with status
"rejected" and `resetsAt` (claude_transcript.py reads that); an API key's rate limits carry
no reset time in anything the CLI prints (it honours `retry-after` itself, then gives up).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_EPOCH = re.compile(r"usage limit reached\|(\d{9,11})\b", re.IGNORECASE)
_REGAIN = re.compile(
    r"regain access on (\d{4})-(\d\d)-(\d\d) at (\d\d):(\d\d)(?::(\d\d))? UTC", re.IGNORECASE
)
_RESETS = re.compile(
    r"\blimit\b.*?\bresets (?:at )?(\d{1,2})(?::(\d\d))?\s*(am|pm)?(?:\s*\(([A-Za-z0-9_/+-]+)\))?",
    re.IGNORECASE,
)


def reset_time(text: str, now: float) -> float | None:
    """The Unix time at which the quota that `text` reports resets, or None."""
    if match := _EPOCH.search(text):
        return float(match.group(1))
    if match := _REGAIN.search(text):
        year, month, day, hour, minute, second = (int(g or 0) for g in match.groups())
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()
    if match := _RESETS.search(text):
        return _next_clock_time(match, now)
    return None


def _next_clock_time(match: re.Match[str], now: float) -> float | None:
    """The first time after `now` that a clock in the named zone (else the local one) shows
    the matched hour and minute."""
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    meridiem = (match.group(3) or "").lower()
    if meridiem:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if meridiem == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
    zone: tzinfo | None = None
    if match.group(4):
        try:
            zone = ZoneInfo(match.group(4))
        except (ZoneInfoNotFoundError, ValueError):
            zone = None
    current = datetime.fromtimestamp(now, zone).astimezone(zone)
    candidate = current.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if candidate.timestamp() <= now:
        candidate += timedelta(days=1)
    return candidate.timestamp()
