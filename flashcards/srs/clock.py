"""Scheduling days: the user's local day, starting at the rollover hour (Anki §8).

Place in the data flow: `sm2.answer` and the study queue ask a `DayClock` which
scheduling day an instant belongs to and when a day starts; review due dates
are day starts and "days elapsed" is counted in these days. The clock reads no
time itself: every instant comes in as an argument (`now`).

Day numbers count scheduling days since the scheduling day that holds local
1970-01-01 at the rollover hour, i.e. day 0 is the local date 1970-01-01.
Anki counts from the collection's creation instead; only differences between
day numbers matter to the algorithm.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_EPOCH = date(1970, 1, 1)


def _require_aware(instant: datetime, name: str) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {instant!r}")


@dataclass(frozen=True)
class DayClock:
    """Maps aware instants to scheduling days of one time zone and rollover hour.

    Args:
        timezone: IANA zone name of the learner, e.g. "Europe/Berlin".
        rollover_hour: local hour (0-23) at which a new scheduling day begins;
            Anki's default is 4, so 03:59 still counts as the previous day.

    Raises:
        ValueError: unknown zone or hour outside 0-23.
    """

    timezone: str = "UTC"
    rollover_hour: int = 4

    def __post_init__(self) -> None:
        problems = []
        if not 0 <= self.rollover_hour <= 23:
            problems.append(f"rollover_hour must be 0-23, got {self.rollover_hour}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"timezone: unknown time zone {self.timezone!r}")
        if problems:
            raise ValueError("DayClock: " + "; ".join(problems))

    @property
    def zone(self) -> ZoneInfo:
        """The `ZoneInfo` for `timezone` (cached by zoneinfo itself)."""
        return ZoneInfo(self.timezone)

    def day_number(self, now: datetime) -> int:
        """The scheduling day that holds the aware instant `now`.

        Before the rollover hour an instant belongs to the previous local date.
        """
        _require_aware(now, "now")
        local = now.astimezone(self.zone)
        local_date = local.date()
        if local.hour < self.rollover_hour:
            local_date -= timedelta(days=1)
        return (local_date - _EPOCH).days

    def day_start(self, day_number: int) -> datetime:
        """The aware UTC instant at which scheduling day `day_number` begins.

        That is local midnight-plus-rollover-hour on the day's date, converted
        with the offset in force then, so days around DST changes are 23 or 25
        hours long. When the rollover hour falls in a spring-forward gap, the
        day starts at the transition: the first instant whose local time is past
        the start. (Whole days can be skipped too: Samoa went from 29 to 31
        December 2011.)
        """
        local_date = _EPOCH + timedelta(days=day_number)
        wall = datetime.combine(local_date, time(self.rollover_hour))
        after = wall.replace(tzinfo=self.zone).astimezone(UTC)
        if after.astimezone(self.zone).replace(tzinfo=None) == wall:
            return after  # the usual case: that local time exists
        # In a gap, fold=0 (the old offset) lands after it and fold=1 before it;
        # the transition lies between, on a whole second.
        before = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        low = int(min(before, after).timestamp())
        high = int(max(before, after).timestamp())
        while high - low > 1:
            middle = (low + high) // 2
            local = datetime.fromtimestamp(middle, self.zone).replace(tzinfo=None)
            if local >= wall:
                high = middle
            else:
                low = middle
        return datetime.fromtimestamp(high, UTC)

    def next_day_start(self, now: datetime) -> datetime:
        """The start of the scheduling day after the one holding `now`."""
        return self.day_start(self.day_number(now) + 1)

    def days_between(self, earlier: datetime, later: datetime) -> int:
        """Scheduling days from `earlier` to `later` (negative if reversed)."""
        return self.day_number(later) - self.day_number(earlier)
