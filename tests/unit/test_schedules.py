"""Next fire times of EventBridge Scheduler expressions, in their time zone, across daylight saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.schedules import Cron, UnsupportedExpression, matches, next_run, parse

PARIS = ZoneInfo("Europe/Paris")


def paris(*parts: int, fold: int = 0) -> datetime:
    return datetime(*parts, tzinfo=PARIS, fold=fold)  # type: ignore[misc]


def test_a_rate_never_seen_ticking_fires_within_its_period() -> None:
    run = next_run("rate(5 minutes)", "Europe/Paris", datetime(2026, 5, 1, 10, 0, tzinfo=UTC))
    assert run.at is None
    assert run.within == timedelta(minutes=5)


def test_a_rate_fires_a_whole_number_of_periods_after_its_last_tick() -> None:
    last = datetime(2026, 5, 1, 10, 3, tzinfo=UTC)
    now = datetime(2026, 5, 1, 10, 50, 30, tzinfo=UTC)
    run = next_run("rate(15 minutes)", "Europe/Paris", now, last_scheduled=last)
    assert run.at == datetime(2026, 5, 1, 10, 48, tzinfo=UTC) + timedelta(minutes=15)
    assert run.at is not None and run.at.tzinfo == PARIS
    on_the_tick = next_run("rate(1 hour)", "UTC", last + timedelta(hours=2), last_scheduled=last)
    assert on_the_tick.at == last + timedelta(hours=3)
    assert next_run("rate(1 day)", "UTC", last, last_scheduled=last).at == last + timedelta(days=1)


def test_a_cron_every_five_minutes_fires_on_the_next_multiple_of_five() -> None:
    assert next_run("cron(0/5 * * * ? *)", "Europe/Paris", paris(2026, 5, 1, 10, 2, 59)).at == paris(2026, 5, 1, 10, 5)
    # On the minute itself it is the following one: the tick at `now` is not "next".
    assert next_run("cron(*/5 * * * ? *)", "Europe/Paris", paris(2026, 5, 1, 10, 5)).at == paris(2026, 5, 1, 10, 10)
    assert next_run("cron(0/5 * * * ? *)", "UTC", datetime(2026, 12, 31, 23, 58, tzinfo=UTC)).at == datetime(
        2027, 1, 1, tzinfo=UTC
    )


def test_the_nightly_cron_is_skipped_when_paris_springs_forward() -> None:
    # 29 March 2026: 02:00 → 03:00, 02:30 does not exist that night.
    run = next_run("cron(30 2 * * ? *)", "Europe/Paris", paris(2026, 3, 28, 12, 0))
    assert run.at == paris(2026, 3, 30, 2, 30)
    assert run.at is not None and run.at.utcoffset() == timedelta(hours=2)
    before = next_run("cron(30 2 * * ? *)", "Europe/Paris", paris(2026, 3, 27, 12, 0)).at
    assert before == paris(2026, 3, 28, 2, 30) and before.utcoffset() == timedelta(hours=1)


def test_the_nightly_cron_runs_once_when_paris_falls_back() -> None:
    # 25 October 2026: 03:00 → 02:00, 02:30 happens twice; Scheduler fires at the first only.
    first = next_run("cron(30 2 * * ? *)", "Europe/Paris", paris(2026, 10, 24, 12, 0)).at
    assert first == paris(2026, 10, 25, 2, 30)
    assert first is not None and first.astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    during_the_repeat = datetime(2026, 10, 25, 0, 45, tzinfo=UTC)  # 02:45 the first time round
    assert next_run("cron(30 2 * * ? *)", "Europe/Paris", during_the_repeat).at == paris(2026, 10, 26, 2, 30)


def test_the_time_zone_moves_the_instant_not_the_wall_time() -> None:
    now = datetime(2026, 7, 1, tzinfo=UTC)
    in_paris = next_run("cron(30 2 * * ? *)", "Europe/Paris", now).at
    in_utc = next_run("cron(30 2 * * ? *)", "UTC", now).at
    assert in_paris is not None and in_utc is not None
    assert in_utc - in_paris == timedelta(hours=2)


@pytest.mark.parametrize("weekday", ["2", "MON", "mon", "2-2", "MON-MON"])
def test_day_of_week_counts_from_sunday_as_one(weekday: str) -> None:
    # 1 May 2026 is a Friday: the next Monday is the 4th.
    assert next_run(f"cron(0 8 ? * {weekday} *)", "UTC", datetime(2026, 5, 1, tzinfo=UTC)).at == datetime(
        2026, 5, 4, 8, tzinfo=UTC
    )


def test_day_of_week_ranges_lists_nth_and_last() -> None:
    start = datetime(2026, 5, 1, 9, tzinfo=UTC)  # a Friday
    assert next_run("cron(0 8 ? * 1,7 *)", "UTC", start).at == datetime(2026, 5, 2, 8, tzinfo=UTC)  # Saturday
    assert next_run("cron(0 8 ? * SUN-MON *)", "UTC", start).at == datetime(2026, 5, 3, 8, tzinfo=UTC)
    assert next_run("cron(0 8 ? * 6 *)", "UTC", start).at == datetime(2026, 5, 8, 8, tzinfo=UTC)  # next Friday
    assert next_run("cron(0 8 ? * 3#2 *)", "UTC", start).at == datetime(2026, 5, 12, 8, tzinfo=UTC)  # 2nd Tuesday
    assert next_run("cron(0 8 ? * 6L *)", "UTC", start).at == datetime(2026, 5, 29, 8, tzinfo=UTC)  # last Friday
    assert next_run("cron(0 8 ? * FRIL *)", "UTC", start).at == datetime(2026, 5, 29, 8, tzinfo=UTC)


def test_day_of_month_last_and_years() -> None:
    start = datetime(2026, 2, 10, tzinfo=UTC)
    assert next_run("cron(0 0 L * ? *)", "UTC", start).at == datetime(2026, 2, 28, tzinfo=UTC)
    assert next_run("cron(0 0 29 FEB ? *)", "UTC", start).at == datetime(2028, 2, 29, tzinfo=UTC)
    assert next_run("cron(15 10 1 JAN-MAR ? 2030)", "UTC", start).at == datetime(2030, 1, 1, 10, 15, tzinfo=UTC)
    assert next_run("cron(0 0 1 1 ? 2020)", "UTC", start).at is None  # its last year has passed


@pytest.mark.parametrize(
    "expression",
    [
        "rate(0 minutes)",
        "rate(5 weeks)",
        "at(2026-05-01T10:00:00)",
        "cron(0 8 * * *)",
        "cron(0 8 * * MON *)",  # day-of-month and day-of-week both given
        "cron(0 8 ? * ? *)",
        "cron(0 8 15W * ? *)",
        "cron(0 8 LW * ? *)",
        "cron(0 8 L-3 * ? *)",
        "cron(0 8 ? * L *)",
        "cron(60 8 * * ? *)",
        "cron(0 8 0 * ? *)",
        "cron(0 8 ? * 8 *)",
        "cron(0 8 ? * 2#6 *)",
        "cron(0 8 * FOO ? *)",
        "cron(0/0 8 * * ? *)",
        "cron(5-1 8 * * ? *)",
    ],
)
def test_what_cannot_be_computed_exactly_is_refused(expression: str) -> None:
    with pytest.raises(UnsupportedExpression, match="'"):
        next_run(expression, "UTC", datetime(2026, 5, 1, tzinfo=UTC))


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(UnsupportedExpression, match="time zone"):
        next_run("cron(0 8 * * ? *)", "Europe/Atlantis", datetime(2026, 5, 1, tzinfo=UTC))


_minutes = st.sampled_from(["*", "0", "0/5", "*/15", "10-20", "7,31,59", "30"])
_hours = st.sampled_from(["*", "2", "0-6", "2,3", "*/6"])
_days = st.sampled_from(
    [("*", "?"), ("L", "?"), ("1,15", "?"), ("29", "?"), ("?", "MON-FRI"), ("?", "1"), ("?", "3#2"), ("?", "6L")]
)
_months = st.sampled_from(["*", "FEB", "3,10", "1-6"])
_zones = st.sampled_from(["Europe/Paris", "UTC", "America/New_York", "Australia/Lord_Howe"])
_instants = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2031, 1, 1), timezones=st.just(UTC))


@settings(deadline=None)  # the minute-by-minute probe of a day takes its time
@given(minute=_minutes, hour=_hours, days=_days, month=_months, timezone=_zones, now=_instants)
def test_the_next_run_is_after_now_matches_the_expression_and_none_is_skipped(
    *, minute: str, hour: str, days: tuple[str, str], month: str, timezone: str, now: datetime
) -> None:
    expression = f"cron({minute} {hour} {days[0]} {month} {days[1]} *)"
    cron = parse(expression)
    assert isinstance(cron, Cron)
    at = next_run(expression, timezone, now).at
    assert at is not None
    assert at > now
    tz = ZoneInfo(timezone)
    wall = at.astimezone(tz).replace(tzinfo=None)
    assert matches(cron, wall)
    assert at.astimezone(tz).utcoffset() == wall.replace(tzinfo=tz, fold=0).utcoffset(), "first occurrence"
    # No existing matching instant between now and the answer (checked minute by minute within a day).
    probe = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while probe < min(at, now + timedelta(days=1)):
        local = probe.astimezone(tz).replace(tzinfo=None)
        first = local.replace(tzinfo=tz, fold=0).astimezone(UTC) == probe
        assert not (first and matches(cron, local)), probe
        probe += timedelta(minutes=1)
