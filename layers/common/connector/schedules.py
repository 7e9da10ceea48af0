"""When a schedule fires next, from its EventBridge Scheduler expression and time zone (Scheduler does not say).

`rate(N unit)` fires every N from its start: the next tick is the last scheduled time plus a whole number of
periods, or, with no tick seen yet, "within N". `cron(min hour day-of-month month day-of-week year)` is read in
the schedule's IANA time zone, as Scheduler reads it: a wall time that does not exist (spring forward) is
skipped, and one that occurs twice (fall back) fires once, at its first occurrence. What this module cannot
read exactly (`W`, `LW`, `L-n`, a bare `L` in day-of-week, `at(...)`) is refused with UnsupportedExpression,
never guessed.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from connector.errors import ConnectorError, SettingsError, describe

YEARS = range(1970, 2200)  # Scheduler's year field
# Spelled out: calendar.month_abbr follows the process locale.
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1
    )
}
# EventBridge numbers days 1-7 from Sunday.
_DAYS = {name: number for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)}
_RATE = re.compile(r"rate\(\s*([1-9][0-9]*)\s+(minute|minutes|hour|hours|day|days)\s*\)")
_CRON = re.compile(r"cron\((.*)\)")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}


class UnsupportedExpression(ConnectorError):
    """A schedule expression this module cannot compute exactly."""


@dataclass(frozen=True)
class Rate:
    every: timedelta


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    months: frozenset[int]
    years: frozenset[int]
    day: Callable[[date], bool]  # the day-of-month or day-of-week field (the other one is `?`)


@dataclass(frozen=True)
class NextRun:
    """The next tick (aware, in the schedule's time zone), or, for a rate never seen ticking, its bound."""

    at: datetime | None = None
    within: timedelta | None = None


def parse(expression: str) -> Rate | Cron:
    text = expression.strip()
    if match := _RATE.fullmatch(text):
        count, unit = int(match[1]), match[2].removesuffix("s")
        return Rate(timedelta(seconds=count * _UNITS[unit]))
    if match := _CRON.fullmatch(text):
        return _cron(match[1].split(), expression)
    raise UnsupportedExpression(f"{expression!r}: only rate(N minutes|hours|days) and cron(...) are understood")


def _cron(fields: list[str], expression: str) -> Cron:
    if len(fields) != 6:
        raise UnsupportedExpression(f"{expression!r}: cron takes 6 fields (min hour day month weekday year)")
    minute, hour, day_of_month, month, day_of_week, year = fields
    if (day_of_month == "?") == (day_of_week == "?"):
        raise UnsupportedExpression(f"{expression!r}: exactly one of day-of-month and day-of-week must be ?")
    day = _day_of_week(day_of_week, expression) if day_of_month == "?" else _day_of_month(day_of_month, expression)
    return Cron(
        minutes=_values(minute, range(60), {}, expression),
        hours=_values(hour, range(24), {}, expression),
        months=_values(month, range(1, 13), _MONTHS, expression),
        years=_values(year, YEARS, {}, expression),
        day=day,
    )


def _number(text: str, names: dict[str, int], expression: str) -> int:
    if text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise UnsupportedExpression(f"{expression!r}: {text!r} is not a value this field takes")
    return int(text)


def _values(field: str, allowed: range, names: dict[str, int], expression: str) -> frozenset[int]:
    """The values of one field: `*`, `a`, `a-b`, `a/step`, `a-b/step`, `*/step`, comma-separated."""
    values: set[int] = set()
    for part in field.split(","):
        span, _, step_text = part.partition("/")
        step = _number(step_text, {}, expression) if step_text else 1
        if span == "*":
            first, last = allowed[0], allowed[-1]
        elif "-" in span:
            low, high = span.split("-", 1)
            first, last = _number(low, names, expression), _number(high, names, expression)
        else:
            first = _number(span, names, expression)
            last = allowed[-1] if step_text else first
        if step < 1 or first not in allowed or last not in allowed or first > last:
            raise UnsupportedExpression(f"{expression!r}: {part!r} is out of {allowed[0]}-{allowed[-1]}")
        values.update(range(first, last + 1, step))
    return frozenset(values)


def _day_of_month(field: str, expression: str) -> Callable[[date], bool]:
    if field == "L":
        return lambda day: day.day == calendar.monthrange(day.year, day.month)[1]
    if "W" in field.upper() or "L" in field.upper():
        raise UnsupportedExpression(f"{expression!r}: day-of-month {field!r} (W, LW, L-n) is not supported")
    days = _values(field, range(1, 32), {}, expression)
    return lambda day: day.day in days


def _weekday(day: date) -> int:
    """EventBridge's day-of-week number: 1 = Sunday … 7 = Saturday."""
    return (day.isoweekday() % 7) + 1


def _day_of_week(field: str, expression: str) -> Callable[[date], bool]:
    if "#" in field:
        weekday_text, _, nth_text = field.partition("#")
        weekday, nth = _number(weekday_text, _DAYS, expression), _number(nth_text, {}, expression)
        if weekday not in range(1, 8) or nth not in range(1, 6):
            raise UnsupportedExpression(f"{expression!r}: {field!r} needs a weekday 1-7 and an occurrence 1-5")
        return lambda day: _weekday(day) == weekday and (day.day - 1) // 7 + 1 == nth
    if field.upper().endswith("L") and len(field) > 1:
        weekday = _number(field[:-1], _DAYS, expression)
        if weekday not in range(1, 8):
            raise UnsupportedExpression(f"{expression!r}: {field!r} needs a weekday 1-7 before L")
        return lambda day: _weekday(day) == weekday and day.day + 7 > calendar.monthrange(day.year, day.month)[1]
    if "L" in field.upper():  # no day name holds an L
        raise UnsupportedExpression(f"{expression!r}: day-of-week {field!r} (a bare L) is not supported")
    days = _values(field, range(1, 8), _DAYS, expression)
    return lambda day: _weekday(day) in days


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise UnsupportedExpression(f"unknown time zone {name!r}") from error


def matches(cron: Cron, wall: datetime) -> bool:
    """Whether a wall-clock minute (naive, in the schedule's zone) is one the expression names."""
    return (
        wall.year in cron.years
        and wall.month in cron.months
        and cron.day(wall.date())
        and wall.hour in cron.hours
        and wall.minute in cron.minutes
    )


def _exists(wall: datetime, tz: ZoneInfo) -> datetime | None:
    """The instant of a wall time at its first occurrence, or None when the zone skips it (spring forward)."""
    instant = wall.replace(tzinfo=tz, fold=0)
    if instant.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != wall:
        return None
    return instant


def _next_cron(cron: Cron, tz: ZoneInfo, now: datetime) -> datetime | None:
    start = now.astimezone(tz).replace(tzinfo=None)
    for year in sorted(y for y in cron.years if y >= start.year):
        for month in sorted(cron.months):
            if (year, month) < (start.year, start.month):
                continue
            for day_number in range(1, calendar.monthrange(year, month)[1] + 1):
                day = date(year, month, day_number)
                if day < start.date() or not cron.day(day):
                    continue
                for hour in sorted(cron.hours):
                    for minute in sorted(cron.minutes):
                        instant = _exists(datetime(year, month, day_number, hour, minute), tz)
                        if instant is not None and instant > now:
                            return instant
    return None


def next_run(expression: str, timezone: str, now: datetime, last_scheduled: datetime | None = None) -> NextRun:
    """The schedule's next tick after `now` (aware). `last_scheduled`: the last tick seen, for a rate."""
    tz = zone(timezone)
    parsed = parse(expression)
    if isinstance(parsed, Rate):
        if last_scheduled is None:
            return NextRun(within=parsed.every)
        periods = max(1, -(-(now - last_scheduled) // parsed.every))
        following = last_scheduled + periods * parsed.every
        if following <= now:
            following += parsed.every
        return NextRun(at=following.astimezone(tz))
    return NextRun(at=_next_cron(parsed, tz, now))


# --- The deployed schedules, as the status page shows them ---------------------------------------------------


class ScheduleRef(BaseModel):
    """One entry of the API's SCHEDULES environment variable: which schedule starts which flow."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    flow: str
    name: str
    group: str = "default"


_REFS = TypeAdapter(list[ScheduleRef])


def schedule_refs(text: str) -> list[ScheduleRef]:
    try:
        return _REFS.validate_json(text)
    except ValidationError as error:
        raise SettingsError(f"SCHEDULES: {describe(error)}") from error


class ScheduleReader(Protocol):
    """The part of boto3's `scheduler` client the page uses."""

    def get_schedule(self, *, Name: str, GroupName: str) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class ScheduleStatus:
    """What the page shows of one schedule; `problem` says why a part could not be known."""

    ref: ScheduleRef
    state: str | None = None
    expression: str | None = None
    timezone: str | None = None
    next: NextRun | None = None
    problem: str | None = None


def read_schedule(
    client: ScheduleReader,
    ref: ScheduleRef,
    now: datetime,
    last_scheduled: Callable[[ScheduleRef], datetime | None],
) -> ScheduleStatus:
    """The schedule's state and next run; what cannot be read is a `problem`, never an exception."""
    try:
        schedule = client.get_schedule(Name=ref.name, GroupName=ref.group)
    except (ClientError, BotoCoreError) as error:
        return ScheduleStatus(ref, problem=f"cannot be read: {error}")
    state, expression = str(schedule.get("State", "")), str(schedule.get("ScheduleExpression", ""))
    timezone = str(schedule.get("ScheduleExpressionTimezone") or "UTC")
    read = ScheduleStatus(ref, state=state, expression=expression, timezone=timezone)
    if state != "ENABLED":
        return read
    try:
        last = last_scheduled(ref) if isinstance(parse(expression), Rate) else None
        upcoming = next_run(expression, timezone, now, last)
    except UnsupportedExpression as error:
        return replace(read, problem=str(error))
    return replace(read, next=upcoming)
