"""The PDF export through HTTP: same figures as the CSV, in the reader's language, only for its clinic."""

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from babel.numbers import format_decimal
from flask_babel import force_locale, gettext
from pypdf import PdfReader

from app.auth.models import TenantRole
from app.extensions import db
from app.i18n import format_duration
from app.tenants.models import Tenant

DAY = date(2026, 10, 14)
PERIOD = "period=custom&start=2026-10-01&end=2026-10-31"


def _pdf_text(response) -> str:
    reader = PdfReader(io.BytesIO(response.get_data()))
    return "\n".join(page.extract_text() for page in reader.pages)


@pytest.fixture
def october(two_tenants, fill_month):
    fill_month(two_tenants.a.id, two_tenants.a.agent, "Phone EN", DAY)
    fill_month(two_tenants.b.id, two_tenants.b.agent, "B line", DAY, policy_name="B contract")
    return two_tenants


def test_pdf_is_a_download_named_like_the_csv(login_as, october):
    a = october.a
    response = login_as(a.clinic_admin).get(f"/t/{a.slug}/sla.pdf?{PERIOD}")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == 'attachment; filename="sla-clinic-a-2026-10-01-2026-10-31.pdf"'
    assert response.get_data().startswith(b"%PDF-")


def test_pdf_holds_the_clinic_queues_and_the_figures_of_the_csv(login_as, october):
    a = october.a
    browser = login_as(a.clinic_admin)
    rows = list(csv.reader(io.StringIO(browser.get(f"/t/{a.slug}/sla.csv?{PERIOD}").get_data(as_text=True))))
    figures = dict(zip(rows[1], rows[2], strict=True))
    text = _pdf_text(browser.get(f"/t/{a.slug}/sla.pdf?{PERIOD}", headers={"Accept-Language": "en"}))

    assert "Clinic A" in text and "Phone EN" in text and "Contract 80/20" in text
    assert "SLA report" in text and "Oct 1, 2026" in text and "Oct 31, 2026" in text
    assert figures["service_level_percent"] == "50.00" and figures["asa_seconds"] == "21.7"
    for column in ("service_level_percent", "service_level_target_percent", "abandonment_percent"):
        assert f"{format_decimal(Decimal(figures[column]), locale='en')} %" in text, column
    assert f"{figures['asa_seconds']} sec" in text  # the ASA as people read it (app.i18n.format_duration)
    assert "max. 30 sec" in text and "max. 5 %" in text  # the policy's ASA and abandonment targets
    for column in ("offered", "answered", "abandoned", "breaches"):
        assert figures[column] in text.split(), column
    # The charts and breakdowns are there, with their labels.
    assert "Service level per day" in text and "Offered contacts by weekday and hour" in text
    assert "Appointments" in text and "Phone" in text
    assert "B line" not in text and "Clinic B" not in text


def test_pdf_is_in_the_readers_language_with_local_numbers(app, login_as, october, create_user):
    a = october.a
    german = create_user("leiterin@example.test", locale="de", memberships=((a.id, TenantRole.CLINIC_ADMIN),))
    text = _pdf_text(login_as(german).get(f"/t/{a.slug}/sla.pdf?{PERIOD}"))
    with app.test_request_context(), force_locale("de"):
        per_queue, offered = gettext("Per queue"), gettext("Offered")
    assert per_queue != "Per queue" and per_queue in text and offered in text
    assert "21,7 Sek." in text and "14.10.2026" not in text and "01.10.2026" in text


def test_polish_letters_survive_in_the_pdf(app, login_as, october):
    a = october.a
    with app.app_context():
        db.session.get(Tenant, a.id).name = "Przychodnia Łódź Śródmieście – żółć"
        db.session.commit()
    text = _pdf_text(login_as(a.manager).get(f"/t/{a.slug}/sla.pdf?{PERIOD}"))
    assert "Przychodnia Łódź Śródmieście – żółć" in text


def test_an_empty_period_still_gives_a_pdf(login_as, october):
    a = october.a
    response = login_as(a.clinic_admin).get(f"/t/{a.slug}/sla.pdf?period=custom&start=2025-01-01&end=2025-01-31")
    assert response.status_code == 200
    assert "No contacts in this period." in _pdf_text(response)


def test_dashboard_links_the_pdf_beside_the_csv(login_as, october):
    a = october.a
    body = login_as(a.clinic_admin).get(f"/t/{a.slug}/sla?period=week").get_data(as_text=True)
    assert f'href="/t/{a.slug}/sla.csv?period=week"' in body
    assert f'href="/t/{a.slug}/sla.pdf?period=week"' in body


@pytest.mark.parametrize("role", ["clinic_admin", "manager", "supervisor", "agent"])
@pytest.mark.tenant_isolation
def test_clinic_b_people_cannot_get_clinic_a_pdf(login_as, october, role):
    response = login_as(october.b[role]).get(f"/t/{october.a.slug}/sla.pdf?{PERIOD}")
    assert response.status_code == 404
    assert response.mimetype != "application/pdf"
    assert b"Phone EN" not in response.get_data()


@pytest.mark.parametrize("slug", ["clinic-b", "clinic-c", "clinic"])
def test_guessed_slugs_answer_404(login_as, october, slug):
    assert login_as(october.a.clinic_admin).get(f"/t/{slug}/sla.pdf?{PERIOD}").status_code == 404


def test_agents_do_not_get_the_pdf(login_as, october):
    assert login_as(october.a.agent).get(f"/t/{october.a.slug}/sla.pdf").status_code == 403


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("period=custom&start=2026-10-31&end=2026-10-01", "The period ends before it starts."),
        (
            "period=custom&start=yesterday&end=2026-10-01",
            "Give the period as two dates, e.g. 2026-10-01 and 2026-10-31.",
        ),
        ("period=custom&start=2020-01-01&end=2026-01-01", "A report covers at most 366 days."),
        ("period=fortnight", "Unknown period."),
    ],
)
def test_bad_periods_answer_400_with_a_translated_message(app, login_as, october, create_user, query, message):
    a = october.a
    german = create_user("leiter@example.test", locale="de", memberships=((a.id, TenantRole.CLINIC_ADMIN),))
    response = login_as(german).get(f"/t/{a.slug}/sla.pdf?{query}")
    with app.test_request_context(), force_locale("de"):
        translated = gettext(message)
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert translated != message and translated in response.get_data(as_text=True)


@pytest.mark.parametrize("locale", ["en", "de", "pl", "fr", "es"])
def test_pdf_renders_in_every_ui_language(app, login_as, october, create_user, locale):
    a = october.a
    reader = create_user(f"reader-{locale}@example.test", locale=locale, memberships=((a.id, TenantRole.CLINIC_ADMIN),))
    text = _pdf_text(login_as(reader).get(f"/t/{a.slug}/sla.pdf?{PERIOD}"))
    with app.test_request_context(), force_locale(locale):
        per_queue = gettext("Per queue")
    assert "Clinic A" in text and "Phone EN" in text and per_queue in text
    # French sets a narrow no-break space between number and unit; the PDF's text layer may give a plain one.
    spaced = format_duration(Decimal("21.7"), locale=locale).replace("\u202f", " ").replace("\xa0", " ")
    assert spaced in text.replace("\u202f", " ").replace("\xa0", " ")
