"""Redis outage, per endpoint: people's pages go on, machines are told to come back (503 with Retry-After).

Login and password reset keep working with their rate limits counted in memory (the lockout lives in
PostgreSQL); patients' reply and opt-out links work; the JSON API and Stripe's webhook answer 503 with
Retry-After, since their callers retry and their per-token budget needs Redis; /healthz says Redis is down.
"""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.auth.tokens import issue_api_token
from app.campaigns import planning
from app.campaigns import services as campaigns
from app.campaigns.models import CampaignKind, MessageStatus, OutboundMessage
from app.extensions import db
from app.patients.models import MessageChannel, Patient
from app.tenancy import tenant_context
from tests.conftest import PASSWORD, Browser


def _api_token(app, tenant_id: int) -> str:
    with app.app_context(), tenant_context(tenant_id):
        _token, secret = issue_api_token("Practice system", None)
        db.session.commit()
        db.session.remove()
        return secret


def _planned_reminder(app, tenant_id: int, create_patient, create_appointment) -> tuple[str, int]:
    """A reminder sent to a patient: its link token and the patient's id."""
    patient = create_patient(tenant_id, phone="+4915112345678")
    create_appointment(tenant_id, patient, starts_in=timedelta(hours=47))
    with app.app_context(), tenant_context(tenant_id):
        campaign = campaigns.save_campaign(None, name="Reminders", kind=CampaignKind.REMINDER, audience={})
        step = campaigns.add_step(campaign, offset_minutes=-48 * 60, channel=MessageChannel.SMS)
        campaigns.save_template(step, language="en", subject="Your visit", body="See you {date}. {link}")
        campaigns.activate(campaign)
        db.session.commit()
        planning.plan_messages()
        db.session.commit()
        message = db.session.scalar(select(OutboundMessage))
        # As dispatch leaves it once the provider took it: only a sent message's link answers.
        message.status, message.sent_at = MessageStatus.SENT, datetime.now(UTC)
        token = message.token
        db.session.commit()
        db.session.remove()
        return token, patient


def test_login_works_and_stays_rate_limited_in_memory_while_redis_is_down(app, own_redis, browser, two_tenants):
    own_redis.stop()
    response = browser.post("/login", {"email": "manager-a@example.test", "password": PASSWORD})
    assert response.status_code == 302
    assert browser.get(response.location, follow_redirects=True).status_code == 200

    # LOGIN_RATE_LIMIT (10 per minute per address, the login above included) still holds, counted in memory.
    stranger = Browser(app.test_client())  # another visitor from the same address
    answers = [
        stranger.post("/login", {"email": "nobody@example.test", "password": "wrong"}).status_code for _ in range(10)
    ]
    assert answers == [400] * 9 + [429]


def test_password_reset_pages_answer_normally_while_redis_is_down(app, own_redis, browser, two_tenants):
    own_redis.stop()
    assert browser.get("/password/forgot").status_code == 200
    response = browser.post("/password/forgot", {"email": "nobody@example.test"})
    assert response.status_code == 302
    assert browser.get("/password/reset/not-a-token").status_code == 404  # a bad link, not a broken page


def test_the_api_answers_503_with_retry_after_while_redis_is_down(app, own_redis, two_tenants):
    client = app.test_client()
    headers = {"Authorization": f"Bearer {_api_token(app, two_tenants.a.id)}"}
    assert client.get("/api/v1/queues", headers=headers).status_code == 200
    own_redis.stop()
    for response in (
        client.get("/api/v1/queues", headers=headers),
        client.get("/api/v1/appointments", headers=headers),
        client.post("/api/v1/contacts", json={}, headers=headers),
    ):
        assert response.status_code == 503
        assert int(response.headers["Retry-After"]) >= 30
        assert response.get_json()["error"] == "The service is briefly unavailable. Please try again in a minute."
    own_redis.start()
    assert client.get("/api/v1/queues", headers=headers).status_code == 200


def test_stripe_webhooks_answer_503_with_retry_after_while_redis_is_down(app, own_redis):
    client = app.test_client()
    assert client.post("/billing/stripe/webhook", data=b"{}").status_code == 400  # unsigned: refused as always
    own_redis.stop()
    response = client.post("/billing/stripe/webhook", data=b"{}")
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 30  # Stripe delivers the event again later


def test_patient_links_work_while_redis_is_down(
    app, own_redis, browser, two_tenants, create_patient, create_appointment
):
    a = two_tenants.a
    token, patient_id = _planned_reminder(app, a.id, create_patient, create_appointment)
    own_redis.stop()
    assert browser.get(f"/m/{a.slug}/{token}").status_code == 200
    assert browser.get(f"/m/{a.slug}/{token}/stop").status_code == 200
    response = browser.post(f"/m/{a.slug}/{token}/stop")
    assert response.status_code == 200
    assert "You will receive no more messages from this clinic." in response.get_data(as_text=True)
    with app.app_context(), tenant_context(a.id):
        assert db.session.get(Patient, patient_id).opted_out_at is not None


def test_healthz_reports_redis_down(app, own_redis):
    client = app.test_client()
    assert client.get("/healthz").get_json()["checks"] == {"database": "ok", "redis": "ok"}
    own_redis.stop()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "checks": {"database": "ok", "redis": "error"}}
