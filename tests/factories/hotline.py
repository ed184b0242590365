"""Hotline factories (agents with languages, queues, contacts), shared by every test package."""

from datetime import UTC, datetime, timedelta

import pytest

from app.extensions import db
from app.hotline import services
from app.hotline.models import Channel, Proficiency, Topic
from app.tenancy import tenant_context


@pytest.fixture
def set_languages(app):
    def _set(user_id: int, *languages: str) -> None:
        with app.app_context():
            services.set_agent_languages(user_id, dict.fromkeys(languages, Proficiency.FLUENT))
            db.session.commit()

    return _set


@pytest.fixture
def create_queue(app):
    def _create(
        tenant_id: int,
        name: str,
        *,
        language: str = "en",
        channel: Channel = Channel.PHONE,
        topic: Topic = Topic.APPOINTMENTS,
        priority: int = 3,
        in_house: bool = False,
        target_seconds: int = 60,
    ) -> int:
        with app.app_context(), tenant_context(tenant_id):
            queue = services.save_queue(
                None,
                name=name,
                channel=channel,
                language=language,
                topic=topic,
                priority=priority,
                in_house=in_house,
                target_seconds=target_seconds,
                team_id=None,
            )
            db.session.commit()
            return queue.id

    return _create


@pytest.fixture
def create_contact(app):
    def _create(
        tenant_id: int,
        queue_id: int,
        *,
        patient_ref: str = "P-1",
        age_seconds: int = 0,
        language: str | None = None,
        priority: int | None = None,
        external_id: str | None = None,
    ) -> int:
        with app.app_context(), tenant_context(tenant_id):
            contact, _ = services.offer_contact(
                queue_id=queue_id,
                patient_ref=patient_ref,
                language=language,
                priority=priority,
                external_id=external_id,
                offered_at=datetime.now(UTC) - timedelta(seconds=age_seconds),
            )
            db.session.commit()
            return contact.id

    return _create
