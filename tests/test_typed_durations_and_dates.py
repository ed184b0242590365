"""Durations typed in h/min/s and dates in the reader's pattern (app/durations.py, app/locale_dates.py, the
fields of app/forms.py): what each language accepts and refuses, then through HTTP with a German manager."""

from datetime import date, datetime, time
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.auth.models import TenantRole
from app.durations import DurationError, parse_duration, spell_duration
from app.extensions import db
from app.feedback.models import SurveySettings
from app.hotline.models import Queue
from app.locale_dates import DateInputError, date_pattern, parse_date_input, parse_date_time_input
from app.tenancy import tenant_context
from app.tenants.models import Closure

# --- the duration parser -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "locale", "seconds"),
    [
        ("90", "en", 90),  # a number alone counts the field's natural unit (seconds by default)
        ("1h 30m", "en", 5400),
        ("1 h 30 min", "en", 5400),
        ("1:30:00", "en", 5400),
        ("1:30", "en", 5400),  # hours:minutes, as on a clock
        ("90s", "en", 90),
        ("1.5 h", "en", 5400),
        ("1,5 h", "de", 5400),
        ("2 hours", "en", 7200),
        ("1 day 2 hr", "en", 93600),
        ("1 h 30", "en", 5400),  # after a unit, a bare number counts the next smaller one
        ("2 Std", "de", 7200),
        ("2 Std.", "de", 7200),
        ("1 Std. 30 Min.", "de", 5400),
        ("1 Stunde und 30 Minuten", "de", 5400),
        ("45 Sek.", "de", 45),
        ("2 hours", "de", 7200),  # English is understood on every page
        ("1 h et 30 min", "fr", 5400),
        ("2 jours", "fr", 172800),
        ("1 hora y 30 minutos", "es", 5400),
        ("1 godz. i 30 min", "pl", 5400),
        ("3 godziny", "pl", 10800),
    ],
)
def test_a_duration_is_read_as_people_write_it(text, locale, seconds):
    assert parse_duration(text, locale=locale) == Decimal(seconds)


def test_a_number_alone_counts_in_the_fields_unit():
    assert parse_duration("90", natural_unit="minutes", locale="en") == 5400
    assert parse_duration("2", natural_unit="days", locale="en") == 172800


@pytest.mark.parametrize("locale", ["en", "de", "fr", "es", "pl"])
@pytest.mark.parametrize("seconds", [0, 45, 60, 5400, 90061, 30 * 86400 - 1, 30 * 86400])
def test_what_is_shown_reads_back_as_the_same_duration(locale, seconds):
    assert parse_duration(spell_duration(seconds, locale=locale), locale=locale) == seconds


def test_a_duration_is_shown_in_the_readers_words():
    assert spell_duration(5400, locale="en") == "1 hr 30 min"
    assert spell_duration(5400, locale="de").startswith("1 Std.") and "30 Min." in spell_duration(5400, locale="de")
    assert spell_duration(90061, locale="en") == "1 day 1 hr 1 min 1 sec"  # exactly, every unit
    assert spell_duration(45, locale="fr") == "45\u202fs"


@pytest.mark.parametrize(
    "text", ["abc", "-5", "1h 70x", "", "   ", "1 h 2 Stunden" * 4, "5 weeks", "1:75", "h", "1 and", "2 Std"]
)
def test_what_is_no_duration_is_refused(text):
    # "2 Std" is German: an English page reads English (and the universal h/min/s) only.
    with pytest.raises(DurationError):
        parse_duration(text, locale="en")


def test_the_refusal_says_what_to_type_in_the_readers_language(app):
    with app.test_request_context(), pytest.raises(DurationError) as refused:
        parse_duration("abc", locale="de")
    assert "1 Std." in str(refused.value.args[0])


# --- the date parser ---------------------------------------------------------------------------------------


def test_each_language_has_an_unambiguous_pattern_with_a_four_digit_year():
    assert {code: date_pattern(code) for code in ("en", "de", "fr", "es", "pl")} == {
        "en": "MM/dd/yyyy",
        "de": "dd.MM.yyyy",
        "fr": "dd/MM/yyyy",
        "es": "dd/MM/yyyy",
        "pl": "dd.MM.yyyy",
    }


@pytest.mark.parametrize(
    ("text", "locale", "day"),
    [
        ("04.12.2026", "de", date(2026, 12, 4)),
        ("4.12.2026", "de", date(2026, 12, 4)),
        ("04.12.26", "de", date(2026, 12, 4)),
        ("12/04/2026", "en", date(2026, 12, 4)),
        ("12/4/2026", "en", date(2026, 12, 4)),
        ("04/12/2026", "fr", date(2026, 12, 4)),
        ("04/12/2026", "es", date(2026, 12, 4)),
        ("04.12.2026", "pl", date(2026, 12, 4)),
        ("2026-12-04", "de", date(2026, 12, 4)),  # ISO in every language
        ("2026-12-04", "en", date(2026, 12, 4)),
    ],
)
def test_a_date_is_read_in_the_readers_pattern_or_iso(text, locale, day):
    assert parse_date_input(text, locale) == day


@pytest.mark.parametrize(
    ("text", "locale"),
    [
        ("31.02.2026", "de"),  # no such day
        ("04.12.2026", "en"),  # a German date on an English page is refused, not read as 12 April
        ("12/04/2026", "de"),
        ("abc", "de"),
        ("2026-13-01", "en"),
        ("1.2.3.4", "de"),
        ("04.12.20266", "de"),
        ("", "de"),
    ],
)
def test_what_is_no_date_is_refused(text, locale):
    with pytest.raises(DateInputError):
        parse_date_input(text, locale)


def test_a_date_and_time_is_read_in_the_readers_pattern_or_iso():
    # Naive on purpose: the form says whose clock it is ("clinic time") and the view applies it.
    half_past_two = datetime.combine(date(2026, 12, 4), time(14, 30))
    assert parse_date_time_input("04.12.2026 14:30", "de") == half_past_two
    assert parse_date_time_input("12/04/2026 2:30 pm", "en") == half_past_two
    assert parse_date_time_input("2026-12-04T14:30", "de") == half_past_two
    for bad in ("04.12.2026", "04.12.2026 25:00", "31.02.2026 10:00", "14:30"):
        with pytest.raises(DateInputError):
            parse_date_time_input(bad, "de")


# --- through HTTP ------------------------------------------------------------------------------------------

QUEUE = {"name": "Termine", "channel": "phone", "language": "en", "topic": "appointments", "priority": "3",
         "team_id": ""}  # fmt: skip


@pytest.fixture
def german_manager(two_tenants, create_user, login_as):
    a = two_tenants.a
    user = create_user("manager-de@example.test", memberships=((a.id, TenantRole.MANAGER),), locale="de")
    return login_as(user)


def _target(app, tenant_id, queue_id):
    with app.app_context(), tenant_context(tenant_id):
        return db.session.get(Queue, queue_id).target_seconds


def test_a_german_manager_types_a_queue_target_in_german_words_and_reads_it_back(
    app, two_tenants, create_queue, german_manager
):
    a = two_tenants.a
    queue = create_queue(a.id, "Termine")
    url = f"/t/{a.slug}/settings/queues/{queue}"
    assert german_manager.post(url, {**QUEUE, "target_seconds": "1 Std. 30 Min."}).status_code == 302
    assert _target(app, a.id, queue) == 5400
    page = german_manager.get(url).get_data(as_text=True)
    assert 'value="1 Std., 30 Min."' in page or 'value="1 Std. 30 Min."' in page
    assert "Eine Zahl allein zählt Sekunden." in page  # the hint names the natural unit
    # Plain numbers (seconds) and English stay accepted.
    assert german_manager.post(url, {**QUEUE, "target_seconds": "90"}).status_code == 302
    assert _target(app, a.id, queue) == 90
    assert german_manager.post(url, {**QUEUE, "target_seconds": "2h"}).status_code == 302
    assert _target(app, a.id, queue) == 7200


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("abc", "Geben Sie eine Dauer ein"),
        ("-5", "Geben Sie eine Dauer ein"),
        ("31 Tage", "Geben Sie höchstens 30 Tg. ein."),
        ("0", "Geben Sie mindestens 1 Sek. ein."),
        ("", "Dieses Feld wird benötigt."),
    ],
)
def test_a_queue_target_that_is_no_duration_is_refused_in_german_and_nothing_is_written(
    app, two_tenants, create_queue, german_manager, typed, message
):
    a = two_tenants.a
    queue = create_queue(a.id, "Termine")
    before = _target(app, a.id, queue)
    response = german_manager.post(f"/t/{a.slug}/settings/queues/{queue}", {**QUEUE, "target_seconds": typed})
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert message in body
    assert f'value="{typed}"' in body  # what was typed is shown back, to correct
    assert _target(app, a.id, queue) == before


def _closures(app, tenant_id):
    """The closures of 2026 (the two-clinic world has one of its own in 2030)."""
    with app.app_context(), tenant_context(tenant_id):
        rows = select(Closure.day, Closure.reason).where(Closure.day < date(2027, 1, 1)).order_by(Closure.day)
        return db.session.execute(rows).all()


def test_a_german_user_types_a_closure_day_in_the_german_pattern(app, two_tenants, german_manager):
    a = two_tenants.a
    page = german_manager.get(f"/t/{a.slug}/settings/closures").get_data(as_text=True)
    assert 'placeholder="TT.MM.JJJJ"' in page and 'type="date"' not in page
    answer = german_manager.post(f"/t/{a.slug}/settings/closures", {"day": "04.12.2026", "reason": "Inventur"})
    assert answer.status_code == 302
    answer = german_manager.post(f"/t/{a.slug}/settings/closures", {"day": "2026-12-07", "reason": "Schulung"})
    assert answer.status_code == 302  # ISO stays accepted
    assert _closures(app, a.id) == [(date(2026, 12, 4), "Inventur"), (date(2026, 12, 7), "Schulung")]


@pytest.mark.parametrize(
    ("typed", "message"),
    [("31.02.2026", "Einen Tag 31.02.2026 gibt es nicht."), ("12/04/2026", "Geben Sie das Datum als TT.MM.JJJJ ein.")],
)
def test_a_closure_day_that_is_no_day_is_refused_in_german_words(app, two_tenants, german_manager, typed, message):
    a = two_tenants.a
    answer = german_manager.post(f"/t/{a.slug}/settings/closures", {"day": typed, "reason": "Inventur"})
    assert answer.status_code == 400
    assert message in answer.get_data(as_text=True)
    assert _closures(app, a.id) == []


def test_the_report_period_shows_iso_links_in_the_german_pattern_and_reads_what_was_typed(two_tenants, german_manager):
    a = two_tenants.a
    linked = german_manager.get(f"/t/{a.slug}/sla", query_string={"period": "custom", "start": "2026-11-01",
                                                                  "end": "2026-11-30"})  # fmt: skip
    body = linked.get_data(as_text=True)
    assert linked.status_code == 200
    assert 'value="01.11.2026"' in body and 'value="30.11.2026"' in body and 'placeholder="TT.MM.JJJJ"' in body
    typed = german_manager.get(f"/t/{a.slug}/sla", query_string={"period": "custom", "start": "01.11.2026",
                                                                 "end": "30.11.2026"})  # fmt: skip
    assert typed.status_code == 200
    assert 'value="01.11.2026"' in typed.get_data(as_text=True)
    # Links from the page (exports) carry the period as ISO, whatever was typed.
    assert "start=2026-11-01" in typed.get_data(as_text=True)


def test_a_field_kept_in_minutes_or_days_reads_words_and_shows_them_back(app, two_tenants, create_queue, login_as):
    """The survey's delay is stored in minutes and its life in days: "1 h" is 60, "2 weeks" no unit of ours."""
    a = two_tenants.a
    queue = create_queue(a.id, "Front desk")
    manager = login_as(a.manager)
    url = f"/t/{a.slug}/settings/feedback/{queue}"
    settings = {"enabled": "y", "scale": "nps", "channel": "email", "sampling_percent": "25", "low_score_max": ""}
    assert manager.post(url, {**settings, "delay_minutes": "1 h 30", "expiry_days": "48h"}).status_code == 302
    with app.app_context(), tenant_context(a.id):
        saved = db.session.scalars(select(SurveySettings)).one()
        assert (saved.delay_minutes, saved.expiry_days) == (90, 2)
    page = manager.get(url).get_data(as_text=True)
    assert 'value="1 hr 30 min"' in page and 'value="2 days"' in page
    assert "A number alone counts minutes." in page and "A number alone counts days." in page
    refused = manager.post(url, {**settings, "delay_minutes": "30", "expiry_days": "36h"})
    assert refused.status_code == 400 and "Enter a multiple of 1 day." in refused.get_data(as_text=True)
    with app.app_context(), tenant_context(a.id):
        assert db.session.scalars(select(SurveySettings.expiry_days)).one() == 2
