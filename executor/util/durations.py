"""Durations and instants in the forms the step API accepts, all turned into milliseconds.

Kept in one place so sleeps, wait timeouts, RetryAfterError and cancel timeouts agree on
what "1h30m" means and on the 366-day ceiling Inngest enforces.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

MAX_DURATION_MS = 366 * 24 * 3600 * 1000

_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(value: str | int | float | timedelta) -> int:
    """Milliseconds for ``"30s"``, ``"1h30m"``, ``"1w"``, an int of ms, or a ``timedelta``.

    Raises ``ValueError`` with the accepted forms in the message; negative values are refused.
    """
    if isinstance(value, bool):
        raise ValueError(f"a duration cannot be a bool ({value!r})")
    if isinstance(value, timedelta):
        ms = int(value.total_seconds() * 1000)
    elif isinstance(value, (int, float)):
        ms = int(value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        pos, total = 0, 0.0
        for part in _PART.finditer(text):
            if part.start() != pos:
                break
            total += float(part.group(1)) * _UNIT_MS[part.group(2)]
            pos = part.end()
        if not text or pos != len(text):
            raise ValueError(
                f"invalid duration {value!r}: use forms like '500ms', '30s', '5m', '24h', '7d', "
                "'1w' or '1h30m', an int of milliseconds, or a timedelta"
            )
        ms = int(total)
    else:
        raise ValueError(f"a duration must be a str, int (ms) or timedelta, not {type(value).__name__}")
    if ms < 0:
        raise ValueError(f"a duration cannot be negative ({value!r})")
    return ms


def parse_instant(value: datetime | str | int | float) -> int:
    """Epoch milliseconds for an aware datetime, a naive datetime taken as UTC, an ISO-8601
    string, or an int/float of epoch milliseconds."""
    if isinstance(value, bool):
        raise ValueError(f"a time cannot be a bool ({value!r})")
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("z", "Z"))
        except ValueError:
            raise ValueError(f"invalid ISO-8601 time {value!r} (example: '2024-12-25T09:00:00Z')") from None
    if not isinstance(value, datetime):
        raise ValueError(f"a time must be a datetime or an ISO-8601 string, not {type(value).__name__}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return int(value.timestamp() * 1000)


def check_horizon(due_ms: int, now_ms: int, what: str) -> int:
    """Refuse times more than 366 days ahead (Inngest's ceiling); past times are fine."""
    if due_ms - now_ms > MAX_DURATION_MS:
        days = (due_ms - now_ms) / 86_400_000
        raise ValueError(f"{what} is {days:.1f} days away; the limit is 366 days")
    return due_ms


def duration_or_instant_to_due(value: timedelta | datetime | str | int | float, now_ms: int) -> int:
    """For RetryAfterError: a datetime (or ISO string) is absolute, anything else is relative."""
    if isinstance(value, datetime):
        return parse_instant(value)
    if isinstance(value, str):
        try:
            return now_ms + parse_duration(value)
        except ValueError:
            return parse_instant(value)
    return now_ms + parse_duration(value)


def format_ms(ms: int, *, columns: bool = False) -> str:
    """Short and monotone in precision: 850ms, 4.2s, 42s, 3m05s, 2h10m, 3d04h (two units at most).
    A round value drops its zero second unit ("1m", a setting as it was written) unless
    ``columns`` keeps it ("1m00s", so a column of durations lines up, as the console's do)."""
    ms = max(int(ms), 0)
    if ms < 1000:
        return f"{ms}ms"
    if ms < 10_000:
        return f"{ms / 1000:.1f}s"
    seconds = ms // 1000
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return _two(minutes, "m", seconds, "s", columns)
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return _two(hours, "h", minutes, "m", columns)
    days, hours = divmod(hours, 24)
    return _two(days, "d", hours, "h", columns)


def _two(big: int, big_unit: str, small: int, small_unit: str, columns: bool) -> str:
    return f"{big}{big_unit}{small:02d}{small_unit}" if small or columns else f"{big}{big_unit}"


_UNITS_DOWN = (("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000))


def format_duration(ms: int) -> str:
    """A duration as Inngest's SDKs send one: whole seconds in the largest unit that divides them
    ("1w", "90s", "2h"), anything finer in milliseconds ("1500ms"), which Go's parser also reads."""
    if ms >= 1000:
        for suffix, unit in _UNITS_DOWN:
            if ms % unit == 0:
                return f"{ms // unit}{suffix}"
    return f"{ms}ms"


def format_instant(ms: int) -> str:
    """ISO-8601 UTC with milliseconds ("2026-01-01T00:00:00.000Z"), as Inngest's SDKs send times."""
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
