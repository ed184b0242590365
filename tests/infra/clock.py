"""The pinned clock of a test run: every test, and every process a test starts, lives on the same date.

No test may depend on today's date (a month whose name reads the same in German and English, a
midnight or a month end falling inside a test). The run travels to `PINNED_AT` once and lets time
flow from there (`tick=True`), so leases, timeouts and sleeps behave as on a real clock. A child
process (an RQ worker, localstripe) is given the parent's current pinned time in `CLOCK_ENV` and
travels there as it starts, so both sides agree on what "now" is. `TEST_PINNED_AT` (ISO 8601)
moves the whole run to another moment, to show that the suite passes on any date.
"""

import os
import time
from datetime import UTC, datetime

import time_machine

# A Tuesday, 10:00 in Berlin, within business hours, away from month ends and DST changes.
PINNED_AT = datetime(2026, 3, 17, 9, 0, tzinfo=UTC)
CLOCK_ENV = "SWITCHBOARD_TEST_CLOCK"


def pinned_at() -> datetime:
    """The moment this run starts at: `TEST_PINNED_AT` where set, else `PINNED_AT`."""
    chosen = os.environ.get("TEST_PINNED_AT")
    if not chosen:
        return PINNED_AT
    moment = datetime.fromisoformat(chosen)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def start(destination: datetime | float) -> time_machine.travel:
    """Travel to `destination` for the rest of this process; time keeps flowing from there."""
    traveller = time_machine.travel(destination, tick=True)
    traveller.start()
    return traveller


def child_env() -> dict[str, str]:
    """The environment entry that puts a child process on this process's (pinned) clock."""
    return {CLOCK_ENV: repr(time.time())}


def start_from_env() -> None:
    """In a child process: travel to the parent's time, if the parent passed one."""
    moment = os.environ.get(CLOCK_ENV)
    if moment:
        start(float(moment))
