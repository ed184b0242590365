"""Feedback fixtures: a queue whose survey is on, contacts resolved by an agent, the survey run through a worker."""

import re
from datetime import time

import pytest
from sqlalchemy import select

from app.campaigns import services as campaign_services
from app.campaigns.channels import twilio_signature
from app.extensions import db, redis_connection
from app.feedback import services
from app.feedback.models import ContactSurvey, ContactSurveyAnswer
from app.hotline import services as hotline
from app.hotline.models import Contact
from app.jobs import get_queue
from app.tenancy import tenant_context
from tests.infra.burst_worker import BurstWorker

NO_QUIET = (time(0, 0), time(0, 0))


@pytest.fixture
def survey_queue(app, create_queue):
    """A queue with its survey on (CSAT by SMS, no delay, everyone asked unless told), no quiet hours."""

    def _create(tenant_id: int, name: str = "Front desk", *, quiet=NO_QUIET, **settings) -> int:
        queue_id = create_queue(tenant_id, name)
        values = {
            "enabled": True,
            "scale": "csat",
            "channel": "sms",
            "delay_minutes": 0,
            "sampling_percent": 100,
            "expiry_days": 7,
        } | settings
        with app.app_context(), tenant_context(tenant_id):
            campaign_services.save_outbound_settings(rate_per_minute=600, quiet_from=quiet[0], quiet_until=quiet[1])
            services.save_survey_settings(queue_id, **values)
            db.session.commit()
        return queue_id

    return _create


@pytest.fixture
def resolve(app):
    """Resolve a contact as `agent` (given to them by `supervisor` first); returns its id."""

    def _resolve(tenant_id: int, contact_id: int, agent: int, supervisor: int) -> int:
        with app.app_context(), tenant_context(tenant_id):
            contact = db.session.get(Contact, contact_id)
            if contact.assigned_to_id != agent:
                hotline.reassign_contact(contact, supervisor, agent)
            hotline.resolve_contact(contact, agent, disposition="answered")
            db.session.commit()
        return contact_id

    return _resolve


@pytest.fixture
def resolved_contact(create_contact, resolve):
    def _create(world, queue_id: int, patient_ref: str = "P-1", *, agent: int | None = None) -> int:
        contact_id = create_contact(world.id, queue_id, patient_ref=patient_ref)
        return resolve(world.id, contact_id, agent or world.agent, world.supervisor)

    return _create


def run_survey_job(app, tenant_id: int) -> None:
    """The clinic's survey run, queued as the scheduler does, then worked by a real worker."""
    from app.feedback.jobs import schedule_contact_surveys

    with app.app_context():
        schedule_contact_surveys()
        BurstWorker([get_queue("outbound")], connection=redis_connection()).work(burst=True)


def surveys(app, tenant_id: int) -> list[ContactSurvey]:
    with app.app_context(), tenant_context(tenant_id):
        rows = db.session.scalars(select(ContactSurvey).order_by(ContactSurvey.id)).all()
        db.session.expunge_all()
        return rows


def answers(app, tenant_id: int) -> list[ContactSurveyAnswer]:
    with app.app_context(), tenant_context(tenant_id):
        rows = db.session.scalars(select(ContactSurveyAnswer).order_by(ContactSurveyAnswer.id)).all()
        db.session.expunge_all()
        return rows


def signed_post(app, browser, path: str, params: dict):
    url = app.config["PUBLIC_BASE_URL"].rstrip("/") + path
    signature = twilio_signature(url, params, app.config["SMS_AUTH_TOKEN"])
    return browser.client.post(path, data=params, headers={"X-Twilio-Signature": signature})


def link_path(body: str) -> str:
    """The survey link's path in a sent text."""
    return re.search(r"https?://[^/\s]+(/f/[^\s]+)", body).group(1)
