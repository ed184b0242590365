"""The survey settings page, the figures (CSAT, NPS, responses) per clinic, queue and agent against a plain-Python
reference, the dashboard card, the patient's data (GDPR export, erasure, retention), and campaign surveys on NPS."""

import json
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy import select

from app.auth.models import TenantRole
from app.extensions import db
from app.feedback import figures, services
from app.feedback.models import AnswerRoute, ContactSurvey, SurveyScale, SurveySettings, SurveyStatus
from app.hotline.models import Channel
from app.tenancy import tenant_context
from tests.feedback.conftest import answers, link_path, run_survey_job, surveys

# --- settings ------------------------------------------------------------------------------------------


def _settings_url(slug: str, queue_id: int) -> str:
    return f"/t/{slug}/settings/feedback/{queue_id}"


def _saved(app, tenant_id: int) -> list[SurveySettings]:
    with app.app_context(), tenant_context(tenant_id):
        rows = db.session.scalars(select(SurveySettings)).all()
        db.session.expunge_all()
        return rows


GOOD = {
    "enabled": "y",
    "scale": "nps",
    "channel": "email",
    "delay_minutes": "30",
    "sampling_percent": "25",
    "expiry_days": "5",
    "low_score_max": "",
}


def test_a_manager_sets_a_queues_survey_on_its_page(app, two_tenants, login_as, create_queue):
    a = two_tenants.a
    queue = create_queue(a.id, "Front desk")
    manager = login_as(a.manager)
    assert "Front desk" in manager.get(f"/t/{a.slug}/settings/feedback/").get_data(as_text=True)
    page = manager.get(_settings_url(a.slug, queue))
    assert page.status_code == 200 and 'name="sampling_percent"' in page.get_data(as_text=True)
    assert manager.post(_settings_url(a.slug, queue), GOOD).status_code == 302
    [saved] = _saved(app, a.id)
    assert (saved.enabled, saved.scale, saved.channel.value, saved.delay_minutes) == (
        True,
        SurveyScale.NPS,
        "email",
        30,
    )
    assert (saved.sampling_percent, saved.expiry_days, saved.low_score_max) == (25, 5, 6)  # NPS: detractors
    assert len(saved.sampling_seed) == 16
    listing = manager.get(f"/t/{a.slug}/settings/feedback/").get_data(as_text=True)
    assert "NPS (0 to 10)" in listing and "25 %" in listing
    # Clinic admins and agents do not configure surveys.
    assert login_as(a.clinic_admin).get(_settings_url(a.slug, queue)).status_code == 403
    assert login_as(a.agent).post(_settings_url(a.slug, queue), GOOD).status_code == 403


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("sampling_percent", "101", "Prozentsatz von 0 bis 100"),
        ("delay_minutes", "-1", "Geben Sie eine Dauer ein"),
        ("delay_minutes", "90 s", "Geben Sie ein Vielfaches von 1 Min. ein."),
        ("delay_minutes", "8 Tage", "Geben Sie höchstens 7 Tg. ein."),
        ("expiry_days", "0", "Geben Sie mindestens 1 Tg. ein."),
        ("expiry_days", "abc", "Geben Sie eine Dauer ein"),
        ("scale", "stars", "Wählen Sie CSAT oder NPS"),
        ("channel", "pigeon", "Wählen Sie SMS oder E-Mail"),
        ("low_score_max", "11", "Bewertung von 0 bis 10"),
    ],
)
def test_bad_settings_are_refused_in_the_readers_language_and_nothing_is_saved(
    app, two_tenants, login_as, create_user, create_queue, field, value, message
):
    a = two_tenants.a
    queue = create_queue(a.id, "Front desk")
    german = create_user("manager-de@example.test", memberships=((a.id, TenantRole.MANAGER),), locale="de")
    response = login_as(german).post(_settings_url(a.slug, queue), GOOD | {field: value})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert _saved(app, a.id) == []


def test_a_low_score_threshold_outside_the_scale_is_refused(app, two_tenants, login_as, create_queue):
    a = two_tenants.a
    queue = create_queue(a.id, "Front desk")
    response = login_as(a.manager).post(_settings_url(a.slug, queue), GOOD | {"scale": "csat", "low_score_max": "7"})
    assert response.status_code == 400 and "within the scale: 1 to 5" in response.get_data(as_text=True)
    assert _saved(app, a.id) == []


def test_another_clinics_queue_has_no_survey_page(app, two_tenants, login_as, create_queue):
    b_queue = create_queue(two_tenants.b.id, "Desk of B")
    manager = login_as(two_tenants.a.manager)
    assert manager.get(_settings_url("clinic-a", b_queue)).status_code == 404
    assert manager.post(_settings_url("clinic-a", b_queue), GOOD).status_code == 404
    assert _saved(app, two_tenants.b.id) == []


# --- figures -------------------------------------------------------------------------------------------


def _answered(
    app, world, queue_id: int, scores: list[int], *, agent: int, create_contact, resolve, unanswered: int = 0
) -> None:
    """One resolved, surveyed and answered contact per score (sent and answered now), and `unanswered` sent ones."""
    for score in [*scores, *[None] * unanswered]:
        contact = resolve(world.id, create_contact(world.id, queue_id, patient_ref="P-1"), agent, world.supervisor)
        with app.app_context(), tenant_context(world.id):
            survey = db.session.scalar(select(ContactSurvey).where(ContactSurvey.contact_id == contact))
            survey.status, survey.sent_at = SurveyStatus.SENT, datetime.now(UTC)
            survey.expires_at = survey.sent_at + timedelta(days=7)
            if score is not None:
                services.record_answer(survey, score=score, comment=None, route=AnswerRoute.LINK)
            db.session.commit()


def _tenth(value) -> Decimal:
    return Decimal(value).quantize(Decimal("0.1"), ROUND_HALF_UP)


def _reference(scale: str, scores: list[int]) -> dict:
    """The arithmetic of app/feedback/figures.py in plain Python."""
    if scale == "csat":
        return {
            "csat_average": _tenth(Decimal(sum(scores)) / len(scores)),
            "csat_satisfied_percent": _tenth(Decimal(100) * sum(s >= 4 for s in scores) / len(scores)),
        }
    promoters, detractors = sum(s >= 9 for s in scores), sum(s <= 6 for s in scores)
    return {
        "promoters_percent": _tenth(Decimal(100) * promoters / len(scores)),
        "detractors_percent": _tenth(Decimal(100) * detractors / len(scores)),
        "nps": _tenth(Decimal(100) * (promoters - detractors) / len(scores)),
    }


def _today():
    now = datetime.now(UTC)
    return figures.Span(now - timedelta(days=1), now + timedelta(days=1))


def test_nps_is_promoters_minus_detractors_in_percent(
    app, two_tenants, create_patient, create_contact, survey_queue, resolve
):
    a = two_tenants.a
    create_patient(a.id)
    queue = survey_queue(a.id, scale="nps")
    scores = [10, 9, 9, 8, 7, 6, 0]
    _answered(app, a, queue, scores, agent=a.agent, create_contact=create_contact, resolve=resolve)
    with app.app_context(), tenant_context(a.id):
        [clinic] = figures.figures(_today())
    expected = _reference("nps", scores)
    assert (clinic.promoters_percent, clinic.detractors_percent, clinic.nps) == (
        expected["promoters_percent"],
        expected["detractors_percent"],
        expected["nps"],
    )
    assert clinic.nps == Decimal("14.3") and clinic.nps_answers == 7 and clinic.csat_answers == 0
    assert (clinic.sent, clinic.answered, clinic.response_rate_percent) == (7, 7, Decimal("100.0"))


def test_figures_per_queue_and_agent_match_the_reference(
    app, two_tenants, create_patient, create_contact, create_user, survey_queue, resolve, create_queue
):
    a = two_tenants.a
    create_patient(a.id)
    create_queue(a.id, "Callbacks", channel=Channel.CALLBACK)
    second_agent = create_user("agent-2@example.test", name="Second Agent", memberships=((a.id, TenantRole.AGENT),))
    front = survey_queue(a.id, "Front desk")
    billing = survey_queue(a.id, "Billing desk")
    _answered(app, a, front, [5, 4, 3], agent=a.agent, create_contact=create_contact, resolve=resolve)
    _answered(app, a, front, [1], agent=second_agent, create_contact=create_contact, resolve=resolve)
    _answered(app, a, billing, [5, 5], agent=second_agent, create_contact=create_contact, resolve=resolve)
    # A resolved contact whose survey went out but got no answer counts as sent.
    _answered(app, a, billing, [], agent=a.agent, create_contact=create_contact, resolve=resolve, unanswered=1)
    with app.app_context(), tenant_context(a.id):
        per_queue = {row.label: row for row in figures.figures(_today(), by="queue")}
        per_agent = {row.key: row for row in figures.figures(_today(), by="agent")}
        [clinic] = figures.figures(_today(), by="clinic")
        per_team = figures.figures(_today(), by="team")
    assert set(per_queue) == {"Front desk", "Billing desk"}
    for label, scores in (("Front desk", [5, 4, 3, 1]), ("Billing desk", [5, 5])):
        row = per_queue[label]
        assert (row.csat_average, row.csat_satisfied_percent) == tuple(_reference("csat", scores).values()), label
        assert row.csat_answers == len(scores)
    assert per_queue["Front desk"].csat_average == Decimal("3.3")  # 3.25 rounded half up
    for agent, scores in ((a.agent, [5, 4, 3]), (second_agent, [1, 5, 5])):
        row = per_agent[agent]
        assert (row.csat_average, row.csat_satisfied_percent) == tuple(_reference("csat", scores).values())
    assert per_agent[second_agent].label == "Second Agent"
    assert (clinic.answered, clinic.csat_answers, clinic.sent) == (6, 6, 7)
    assert clinic.response_rate_percent == Decimal("85.7")
    assert [(row.key, row.answered) for row in per_team] == [(None, 6)]  # the queues have no team
    with pytest.raises(Exception, match="grouping"), app.app_context(), tenant_context(a.id):
        figures.figures(_today(), by="planet")


def test_the_sla_dashboard_shows_the_clinics_feedback_and_never_another_clinics(
    app, two_tenants, login_as, create_patient, create_contact, survey_queue, resolve
):
    a, b = two_tenants.a, two_tenants.b
    for world, scores in ((a, [5, 4]), (b, [1, 1, 1])):
        create_patient(world.id)
        queue = survey_queue(world.id, f"Desk {world.slug}")
        _answered(app, world, queue, scores, agent=world.agent, create_contact=create_contact, resolve=resolve)
    page = login_as(a.clinic_admin).get(f"/t/{a.slug}/sla").get_data(as_text=True)
    assert 'id="contact-feedback"' in page
    assert "CSAT: average 4.5 of 5, 100 % satisfied (4 or 5), 2 answers." in page
    assert "Desk clinic-a" in page and "Desk clinic-b" not in page
    with app.app_context(), tenant_context(b.id):
        block = figures.statement_block(*(lambda s: (s.start, s.end))(_today()))
    assert block["csat_average"] == "1.0" and block["answered"] == 3


# --- the patient's data -----------------------------------------------------------------------------------


def test_gdpr_export_and_erasure_cover_contact_surveys(
    app, two_tenants, sms, browser, login_as, create_patient, survey_queue, resolved_contact
):
    a = two_tenants.a
    queue = survey_queue(a.id)
    patient = create_patient(a.id, "P-1")
    resolved_contact(a, queue, "P-1")
    resolved_contact(a, queue, "P-1")
    with app.app_context(), tenant_context(a.id):
        # The second one waits (the clinic changed its mind about the delay): erasure must stop it.
        later = db.session.scalars(select(ContactSurvey).order_by(ContactSurvey.id)).all()[1]
        later.send_at = datetime.now(UTC) + timedelta(hours=2)
        db.session.commit()
    run_survey_job(app, a.id)
    [message] = sms.delivered.values()
    path = link_path(message["body"])
    assert browser.post(path, {"score": "5", "comment": "Lovely people"}).status_code == 200

    admin = login_as(a.clinic_admin)
    export = admin.post(f"/t/{a.slug}/privacy/patients/{patient}/export.json")
    document = json.loads(export.get_data(as_text=True))
    answered, waiting = document["contact_surveys"]
    assert (answered["score"], answered["comment"], answered["answered_by"], answered["status"]) == (
        5,
        "Lovely people",
        "link",
        "sent",
    )
    assert (waiting["status"], waiting["score"]) == ("scheduled", None)
    assert admin.post(f"/t/{a.slug}/privacy/patients/{patient}/export.pdf").status_code == 200

    erased = admin.post(f"/t/{a.slug}/privacy/patients/{patient}/erase", {"confirmation": "P-1"})
    assert erased.status_code in (200, 302)
    [answer] = answers(app, a.id)
    assert (answer.score, answer.comment) == (5, None)  # the score stays for the figures
    first, second = surveys(app, a.id)
    assert (second.status, second.failure_reason) == (SurveyStatus.SKIPPED, "patient_erased")
    assert browser.get(path).status_code == 404  # the old link opens nothing


def test_retention_empties_old_survey_comments(
    app, two_tenants, sms, browser, create_patient, survey_queue, resolved_contact
):
    a = two_tenants.a
    create_patient(a.id)
    resolved_contact(a, survey_queue(a.id))
    run_survey_job(app, a.id)
    [message] = sms.delivered.values()
    browser.post(link_path(message["body"]), {"score": "4", "comment": "Fine"})
    with app.app_context(), tenant_context(a.id):
        assert services.purge_comments(datetime.now(UTC) - timedelta(days=1)) == 0
        assert services.purge_comments(datetime.now(UTC) + timedelta(seconds=1)) == 1
        db.session.commit()
    [answer] = answers(app, a.id)
    assert (answer.score, answer.comment) == (4, None)


# --- campaign surveys ------------------------------------------------------------------------------------


def test_a_campaign_survey_asks_on_its_own_scale(app, two_tenants, login_as):
    from app.campaigns.models import Campaign

    a = two_tenants.a
    manager = login_as(a.manager)
    response = manager.post(
        f"/t/{a.slug}/campaigns/", {"name": "NPS after visits", "kind": "survey", "survey_scale": "nps"}
    )
    assert response.status_code == 302
    bad = manager.post(f"/t/{a.slug}/campaigns/", {"name": "Odd", "kind": "survey", "survey_scale": "stars"})
    assert bad.status_code == 400 and "Choose CSAT or NPS." in bad.get_data(as_text=True)
    with app.app_context(), tenant_context(a.id):
        assert [(c.name, c.survey_scale) for c in db.session.scalars(select(Campaign))] == [("NPS after visits", "nps")]


def test_the_months_statement_figures_carry_the_feedback_block_only_when_patients_were_asked(
    app, two_tenants, create_patient, create_contact, survey_queue, resolve
):
    from zoneinfo import ZoneInfo

    from app.sla import contracts, statements
    from app.tenants.services import get_tenant
    from tests.sla.conftest import contract_terms

    a, b = two_tenants.a, two_tenants.b
    create_patient(a.id)
    queue = survey_queue(a.id)
    _answered(app, a, queue, [5, 2], agent=a.agent, create_contact=create_contact, resolve=resolve)
    month = datetime.now(ZoneInfo("Europe/Berlin")).date().replace(day=1)
    for world, expected in ((a, {"answered": 2, "csat_average": "3.5", "sent": 2}), (b, None)):
        with app.app_context(), tenant_context(world.id):
            contract = contracts.save_contract(
                effective_from=month, credit_mode="overall", cap_percent="50", terms=contract_terms(), author_id=None
            )
            db.session.flush()
            computed = statements.compute_figures(get_tenant(world.id), contract, month, datetime.now(UTC))
            db.session.rollback()
        if expected is None:
            assert "feedback" not in computed
        else:
            assert {key: computed["feedback"][key] for key in expected} == expected


def _frozen_statement(app, a, queue, *, create_contact, resolve) -> int:
    """Clinic A's statement of this month, frozen with two survey answers (5 and 2) in it; its id."""
    from decimal import Decimal
    from zoneinfo import ZoneInfo

    from app.sla import contracts, statements
    from app.sla.contract_models import SlaStatement
    from app.tenants.services import get_tenant
    from tests.sla.conftest import contract_terms

    _answered(app, a, queue, [5, 2], agent=a.agent, create_contact=create_contact, resolve=resolve)
    month = datetime.now(ZoneInfo("Europe/Berlin")).date().replace(day=1)
    with app.app_context(), tenant_context(a.id):
        contract = contracts.save_contract(
            effective_from=month, credit_mode="overall", cap_percent="50", terms=contract_terms(), author_id=None
        )
        db.session.flush()
        figures = statements.compute_figures(get_tenant(a.id), contract, month, datetime.now(UTC))
        statement = SlaStatement(month=month, contract_id=contract.id, figures=figures, credit_amount=Decimal(0))
        db.session.add(statement)
        db.session.commit()
        return statement.id


def test_the_statement_page_shows_the_months_frozen_feedback(
    app, two_tenants, create_patient, create_contact, survey_queue, resolve, login_as
):
    a = two_tenants.a
    create_patient(a.id)
    statement_id = _frozen_statement(app, a, survey_queue(a.id), create_contact=create_contact, resolve=resolve)
    page = login_as(a.manager).get(f"/t/{a.slug}/sla/statements/{statement_id}", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert "CSAT: average 3.5 of 5, 50 % satisfied (4 or 5), 2 answers." in " ".join(
        page.get_data(as_text=True).split()
    )


def test_the_statement_files_carry_the_months_frozen_feedback(
    app, two_tenants, create_patient, create_contact, survey_queue, resolve, login_as
):
    """The CSV (and so the XLSX, built from the same rows) ends with the feedback block; the PDF says it in words."""
    import csv
    import io

    from pypdf import PdfReader

    from app.sla import statements

    a = two_tenants.a
    create_patient(a.id)
    statement_id = _frozen_statement(app, a, survey_queue(a.id), create_contact=create_contact, resolve=resolve)
    manager = login_as(a.manager)
    base = f"/t/{a.slug}/sla/statements/{statement_id}"

    rows = list(csv.reader(io.StringIO(manager.get(f"{base}.csv").get_data(as_text=True))))
    header = rows.index(["feedback", *statements.FEEDBACK_COLUMNS])
    clinic = dict(zip(rows[header], rows[header + 1], strict=True))
    assert clinic["feedback"] == "clinic"
    assert (clinic["csat_answers"], clinic["csat_average"], clinic["csat_satisfied_percent"]) == ("2", "3.5", "50.0")
    assert (clinic["sent"], clinic["answered"], clinic["nps_answers"], clinic["nps"]) == ("2", "2", "0", "")

    pdf = manager.get(f"{base}.pdf")
    text = " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.data)).pages).split())
    assert "Patient feedback after contacts" in text, text
    assert "CSAT: average 3.5 of 5, 50 % satisfied (4 or 5), 2 answers." in text, text
    assert "Surveys sent: 2; answered: 100 %." in text, text
