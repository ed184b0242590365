"""Shared page helpers."""


def test_durations_are_shown_as_hours_minutes_seconds():
    from app.web import format_duration

    assert format_duration(10721) == "2:58:41"
    assert format_duration(-65) == "−0:01:05"
    assert format_duration(None) == "—"
