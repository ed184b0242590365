"""Bad input answers a clear 4xx, never a 5xx, and writes nothing (issue 13, item 6).

Generated, not listed: every form class of the application, every route of the URL map (each
method, as a visitor and as a person holding every role in clinic A), and every operation of the
OpenAPI document get each class of bad input: control characters, a line break in single-line
text, numbers that are no finite amount (Infinity, 1e309, NaN, sNaN), dates in year 1 and 9999,
and JSON nested 5,000 deep. Field names come from the form classes and from the source's own
`request.args` / `request.form` reads, so a new form or route is covered without editing this file.
"""

import inspect
import re
from collections import Counter
from datetime import time
from pathlib import Path

import pytest
from flask_wtf import FlaskForm
from sqlalchemy import text
from werkzeug.datastructures import MultiDict
from werkzeug.routing import AnyConverter

from app.auth.models import PlatformRole, TenantRole
from app.campaigns import services as campaigns
from app.campaigns.models import CampaignKind
from app.extensions import db, limiter
from app.forms import BoundedDecimalField, Form
from app.hotline import services as hotline
from app.patients.models import MessageChannel
from app.tenancy import tenant_context
from tests.conftest import Browser

APP_DIR = Path(__file__).resolve().parent.parent / "app"

CONTROL_CHARACTERS = {"nul": "a\x00b", "escape": "a\x1b[2Jb", "c1": "a\x85b"}
LINE_BREAK = "Subject\r\nBcc: someone@example.org"
NOT_FINITE = ["Infinity", "-Infinity", "1e309", "NaN", "sNaN"]
OUT_OF_RANGE_DATES = {"year 1": ("0001-01-01", "0001-01-01T00:00"), "year 9999": ("9999-12-31", "9999-12-31T23:59")}
DEEP_JSON = "[" * 5000 + "]" * 5000

# The one switch that gates a date input of the URL map: the report's period is "custom" before its
# start and end dates are read at all.
DATE_SWITCHES = {"period": "custom"}


# --- what the application accepts --------------------------------------------------------------------


def _all_subclasses(cls) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_all_subclasses(sub)]
    return found


def _form_classes(app) -> list[type]:
    """Every form class of the application (the blueprints registered by create_app imported them)."""
    return sorted(
        {cls for cls in _all_subclasses(FlaskForm) if cls.__module__.startswith("app.")} - {Form},
        key=lambda cls: f"{cls.__module__}.{cls.__qualname__}",
    )


def _build(form_class, formdata=None):
    """An instance of the form; keyword-only constructor arguments (the clinic's languages …) empty."""
    kwargs = {
        name: ()
        for name, parameter in inspect.signature(form_class.__init__).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and parameter.default is inspect.Parameter.empty
    }
    return form_class(formdata=formdata, meta={"csrf": False}, **kwargs)


def _flat_fields(form):
    for field in form:
        if hasattr(field, "entries"):  # FieldList
            for entry in field.entries:
                yield from _flat_fields(entry.form) if hasattr(entry, "form") else [entry]
        else:
            yield field


def _field_names(app) -> set[str]:
    """Every input name the application reads: its forms' fields and the source's request.args/form keys."""
    names = set()
    with app.test_request_context():
        for form_class in _form_classes(app):
            names |= {field.name for field in _flat_fields(_build(form_class))}
    pattern = re.compile(r"request\.(?:args|form)(?:\.get)?[\[(]\s*\"([A-Za-z_][\w-]*)\"")
    for path in APP_DIR.rglob("*.py"):
        names |= set(pattern.findall(path.read_text()))
    return names - {"csrf_token"}


def _kind_of(field) -> str:
    from wtforms import DateTimeField, StringField, TextAreaField, TimeField

    if isinstance(field, BoundedDecimalField):
        return "decimal"
    if isinstance(field, TextAreaField):
        return "multiline"
    if isinstance(field, StringField):
        return "text"
    if isinstance(field, DateTimeField) and not isinstance(field, TimeField):
        return "datetime" if "%H" in str(field.format) else "date"
    return "other"


# --- every form class --------------------------------------------------------------------------------


def test_every_form_derives_from_the_form_with_the_input_rules(app):
    forms = _form_classes(app)
    assert len(forms) >= 30
    assert [cls.__qualname__ for cls in forms if not issubclass(cls, Form)] == []


def test_every_amount_price_and_percentage_is_a_bounded_decimal(app):
    from wtforms import DecimalField, FloatField

    with app.test_request_context():
        plain = [
            f"{cls.__qualname__}.{field.name}"
            for cls in _form_classes(app)
            for field in _flat_fields(_build(cls))
            if isinstance(field, DecimalField | FloatField) and not isinstance(field, BoundedDecimalField)
        ]
        assert plain == []


def _submitted(form_class, name: str, value: str):
    """The field of a form submitted with `value` in it, validated."""
    form = _build(form_class, MultiDict({name: value}))
    form.validate()
    return next(field for field in _flat_fields(form) if field.name == name)


def _refused(form_class, name: str, value: str) -> list:
    return _submitted(form_class, name, value).errors


def test_every_form_field_refuses_each_class_of_bad_input_as_a_field_error(app):
    checked = {"text": 0, "multiline": 0, "decimal": 0, "date": 0, "datetime": 0}
    with app.test_request_context():
        for form_class in _form_classes(app):
            for field in _flat_fields(_build(form_class)):
                kind = _kind_of(field)
                if kind in ("text", "multiline"):
                    for label, value in CONTROL_CHARACTERS.items():
                        assert _refused(form_class, field.name, value), (form_class, field.name, label)
                    if kind == "text":
                        assert _refused(form_class, field.name, LINE_BREAK), (form_class, field.name)
                    else:
                        assert "line break" not in " ".join(map(str, _refused(form_class, field.name, "a\r\nb")))
                elif kind == "decimal":
                    for value in NOT_FINITE:
                        submitted = _submitted(form_class, field.name, value)
                        assert submitted.errors and submitted.data is None, (form_class, field.name, value)
                elif kind in ("date", "datetime"):
                    for label, (day, moment) in OUT_OF_RANGE_DATES.items():
                        errors = _refused(form_class, field.name, day if kind == "date" else moment)
                        assert any("2000-01-01" in str(e) for e in errors), (form_class, field.name, label, errors)
                else:
                    continue
                checked[kind] += 1
    # Each kind exists in the application, so each rule was exercised.
    assert all(count > 0 for count in checked.values()), checked


# --- every route of the URL map ----------------------------------------------------------------------


@pytest.fixture
def world(app, two_tenants, create_user, create_queue, create_contact, create_patient, create_appointment):
    """Clinic A's objects first, so id 1 of each table is clinic A's; one person with every role in A."""
    a = two_tenants.a
    queue = create_queue(a.id, "Phone EN")
    create_contact(a.id, queue, patient_ref="P-1")
    create_appointment(a.id, create_patient(a.id, "P-1"))
    with app.app_context(), tenant_context(a.id):
        hotline.save_team(
            None, name="Day team", languages=["en"], covers_from=time(8), covers_until=time(17), member_ids=[]
        )
        campaign = campaigns.save_campaign(None, name="Reminders", kind=CampaignKind.REMINDER, audience={})
        step = campaigns.add_step(campaign, offset_minutes=-24 * 60, channel=MessageChannel.EMAIL)
        campaigns.save_template(step, language="en", subject="Your visit", body="See you {date}.")
        db.session.commit()
    everyone = create_user(
        "everyone@example.test",
        platform_role=PlatformRole.PROVIDER_ADMIN,
        memberships=tuple((a.id, role) for role in TenantRole),
    )
    return {"tenant": a, "user": everyone}


def _url(app, rule) -> str:
    values = {}
    for name, converter in rule._converters.items():
        if isinstance(converter, AnyConverter):
            values[name] = sorted(converter.items)[0]
        elif name in ("tenant_slug", "slug"):
            values[name] = "clinic-a"
        elif converter.regex == r"\d+":
            values[name] = 1
        else:
            values[name] = "x"
    return rule.build(values, append_unknown=False)[1]


def _routes(app):
    """(method, path) of every page and form of the URL map; the JSON API has its own sweep below."""
    # Logging out last, so that the person stays logged in for every other route.
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint == "auth.logout", r.rule)):
        if rule.endpoint == "static" or rule.rule.startswith("/api/"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, _url(app, rule)


def _row(table: str) -> str:
    # A signed-in request, refused or not, stamps its login session's activity at most once a minute
    # (app/auth/sessions.py TOUCH_INTERVAL): bookkeeping of the session, not data the request wrote. A sweep
    # longer than a minute met that stamp on whichever refusal came next.
    return "(to_jsonb(t) - 'last_seen_at')::text" if table == "login_sessions" else "t::text"


def _snapshot(owner_engine) -> dict[str, str]:
    """A digest of every table's rows, read as the owner (no scoping, no RLS), in one statement."""
    with owner_engine.connect() as conn:
        tables = (
            conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version' ORDER BY tablename"
                )
            )
            .scalars()
            .all()
        )
        digests = " UNION ALL ".join(  # names from the catalog
            f"SELECT '{table}', md5(coalesce(string_agg({_row(table)}, '|' ORDER BY {_row(table)}), '')) "  # noqa: S608
            f"FROM {table} t"
            for table in tables
        )
        return dict(conn.execute(text(digests)).all())


# A refusal of patient-data or security relevance is itself recorded (who tried what, when): the audit
# trail is the one place a refused request writes to.
AUDIT_TRAIL = {"audit_events", "gdpr_requests", "security_events"}


def _changed(before: dict, after: dict) -> list[str]:
    return sorted(table for table in before if before[table] != after[table] and table not in AUDIT_TRAIL)


def _sweep(app, clients, owner_engine, payload: dict, *, as_json: str | None = None) -> dict[str, list[str]]:
    """Send `payload` to every route with every client: the answers that were 5xx, the refusals (4xx)
    that wrote something anyway, and every answer's status."""
    found = {"5xx": [], "refused but written": [], "answers": []}
    state = _snapshot(owner_engine)
    for method, path in _routes(app):
        for who, client in clients.items():
            if as_json is not None:
                response = client.client.open(path, method=method, data=as_json, content_type="application/json")
            elif method == "GET":
                response = client.get(path, query_string=payload)
            else:
                response = client.post(path, data=payload)
            after = _snapshot(owner_engine)
            request = f"{method} {path} as {who}: {response.status_code}"
            found["answers"].append(request)
            if response.status_code >= 500:
                found["5xx"].append(request)
            elif response.status_code >= 400 and _changed(state, after):
                found["refused but written"].append(f"{request} {_changed(state, after)}")
            state = after
    return found


@pytest.fixture
def clients(app, world, monkeypatch):
    # Rate limits are tested elsewhere; here they would turn answers into 429 before the input is read.
    monkeypatch.setattr(limiter, "enabled", False)
    person = Browser(app.test_client())
    person.login("everyone@example.test")
    visitor = Browser(app.test_client())
    visitor.csrf_token()
    return {"visitor": visitor, "person with every role": person}


# Each class once over the URL map (the form-class test above tries every value on every field).
BAD_INPUT_CLASSES = {
    "control character nul": CONTROL_CHARACTERS["nul"],
    "control character c1": CONTROL_CHARACTERS["c1"],
    "line break": LINE_BREAK,
    **{f"number {value}": value for value in ("Infinity", "1e309", "sNaN")},
    "number beyond any column": "9" * 25,
    **{f"date {label}": values for label, values in OUT_OF_RANGE_DATES.items()},
}


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("bad", list(BAD_INPUT_CLASSES), ids=list(BAD_INPUT_CLASSES))
def test_every_route_answers_bad_input_without_a_5xx_and_a_refusal_writes_nothing(
    app, clients, owner_engine, bad, capsys
):
    names = _field_names(app)
    assert {"email", "password", "location", "amount", "start", "end", "payload", "q"} <= names
    value = BAD_INPUT_CLASSES[bad]
    if isinstance(value, tuple):  # a date: the date form in date fields, the date-time form in the others
        day, moment = value
        payload = {name: (moment if "_at" in name else day) for name in names} | DATE_SWITCHES
    else:
        payload = dict.fromkeys(names, value)
    found = _sweep(app, clients, owner_engine, payload)
    statuses = Counter(answer.rsplit(" ", 1)[1] for answer in found["answers"])
    with capsys.disabled():  # the CI log shows that the sweep ran, and what it met
        print(f"\nbad-input sweep [{bad}]: {len(found['answers'])} requests, answers {dict(sorted(statuses.items()))}")
    assert found["5xx"] == []
    assert found["refused but written"] == []
    assert len(found["answers"]) > 200
    if bad.startswith("control character"):
        # Refused by the request-wide rule, whichever route and whoever asks.
        assert [answer for answer in found["answers"] if not answer.endswith(": 400")] == []


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_every_route_refuses_json_nested_5000_deep_and_writes_nothing(app, clients, owner_engine):
    before = _snapshot(owner_engine)
    found = _sweep(app, clients, owner_engine, {}, as_json=DEEP_JSON)
    assert found["5xx"] == []
    assert _changed(before, _snapshot(owner_engine)) == []


@pytest.mark.parametrize("label", list(CONTROL_CHARACTERS))
def test_a_control_character_on_the_login_form_is_a_clear_400(browser, two_tenants, label):
    answer = browser.post("/login", {"email": f"admin-a@example.test{CONTROL_CHARACTERS[label]}", "password": "x"})
    assert answer.status_code == 400
    assert "control characters" in answer.get_data(as_text=True)


def test_a_line_break_in_a_single_line_field_is_shown_beside_the_field(app, login_as, two_tenants, owner_engine):
    browser = login_as(two_tenants.a.manager)
    before = _snapshot(owner_engine)
    answer = browser.post("/t/clinic-a/settings/closures", {"day": "2030-06-01", "reason": LINE_BREAK})
    assert answer.status_code == 400
    assert "Remove the line breaks" in answer.get_data(as_text=True)
    assert _changed(before, _snapshot(owner_engine)) == []


def test_a_custom_report_period_in_year_1_or_9999_is_a_clear_400(login_as, two_tenants):
    browser = login_as(two_tenants.a.clinic_admin)
    for start, end in (("0001-01-01", "0001-01-31"), ("9999-12-01", "9999-12-31")):
        for path in ("/t/clinic-a/sla", "/t/clinic-a/sla.csv", "/t/clinic-a/sla.pdf"):
            answer = browser.get(path, query_string={"period": "custom", "start": start, "end": end})
            assert answer.status_code == 400, (path, start)
            assert "Enter a date from 2000-01-01 to 2100-12-31" in answer.get_data(as_text=True)


def test_an_adjustment_of_infinity_or_snan_is_shown_beside_the_amount(login_as, two_tenants, owner_engine):
    browser = login_as(two_tenants.a.manager)
    before = _snapshot(owner_engine)
    for value in NOT_FINITE:
        answer = browser.post(
            "/t/clinic-a/billing/adjustments",
            {"amount": value, "reason": "Goodwill", "confirm": "y", "request_key": "k" * 16},
        )
        assert answer.status_code == 400, value
        assert "Enter a number from -1000000 to 1000000" in answer.get_data(as_text=True)
    assert _changed(before, _snapshot(owner_engine)) == []
