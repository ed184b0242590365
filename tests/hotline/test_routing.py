"""Claim-next: the most urgent contact the agent may take, and never the same one twice."""

import threading

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.hotline import services
from app.hotline.models import Channel, Contact, ContactEvent, ContactStatus, EventKind
from app.hotline.services import QueueEmpty
from app.tenancy import tenant_context


def _claim(app, tenant_id, agent_id):
    with app.app_context(), tenant_context(tenant_id):
        try:
            contact_id = services.claim_next_contact(agent_id)
            db.session.commit()
            return contact_id
        except QueueEmpty:
            db.session.rollback()
            return None


def test_most_urgent_contact_comes_first(app, two_tenants, set_languages, create_queue, create_contact):
    a = two_tenants.a
    set_languages(a.agent, "en")
    # E-mail: one agent takes several at once (a second phone call waits until the first is done).
    slow = create_queue(a.id, "Results", target_seconds=3600, priority=5, channel=Channel.EMAIL)
    fast = create_queue(a.id, "Appointments", target_seconds=60, priority=1, channel=Channel.EMAIL)
    older_but_later_due = create_contact(a.id, slow, age_seconds=600)
    due_soonest = create_contact(a.id, fast, age_seconds=30)
    assert _claim(app, a.id, a.agent) == due_soonest
    assert _claim(app, a.id, a.agent) == older_but_later_due
    assert _claim(app, a.id, a.agent) is None


def test_equal_due_time_goes_by_priority_then_age(app, two_tenants, set_languages, create_queue, create_contact):
    a = two_tenants.a
    set_languages(a.agent, "en")
    queue = create_queue(a.id, "Line", target_seconds=60)
    low = create_contact(a.id, queue, priority=1)
    high = create_contact(a.id, queue, priority=5)
    with app.app_context(), tenant_context(a.id):
        due = db.session.get(Contact, low).due_at
        db.session.get(Contact, high).due_at = due
        db.session.commit()
    assert _claim(app, a.id, a.agent) == high


def test_agent_gets_only_contacts_in_their_languages(app, two_tenants, set_languages, create_queue, create_contact):
    a = two_tenants.a
    set_languages(a.agent, "de")
    english = create_queue(a.id, "English line", language="en")
    german = create_queue(a.id, "Deutsche Linie", language="de", channel=Channel.EMAIL)
    create_contact(a.id, english, age_seconds=500)
    wanted = create_contact(a.id, german)
    assert _claim(app, a.id, a.agent) == wanted
    assert _claim(app, a.id, a.agent) is None


def test_in_house_queues_are_never_offered(app, two_tenants, set_languages, create_queue, create_contact):
    a = two_tenants.a
    set_languages(a.agent, "en")
    in_house = create_queue(a.id, "Clinic desk", in_house=True)
    create_contact(a.id, in_house, age_seconds=900)
    assert _claim(app, a.id, a.agent) is None


@pytest.mark.tenant_isolation
def test_agent_of_clinic_a_never_gets_a_contact_of_clinic_b(
    app, two_tenants, set_languages, create_queue, create_contact
):
    set_languages(two_tenants.a.agent, "en")
    queue_b = create_queue(two_tenants.b.id, "B line")
    create_contact(two_tenants.b.id, queue_b, age_seconds=900)
    assert _claim(app, two_tenants.a.id, two_tenants.a.agent) is None


def test_claim_records_the_assignment_on_the_timeline(app, two_tenants, set_languages, create_queue, create_contact):
    a = two_tenants.a
    set_languages(a.agent, "en")
    contact_id = create_contact(a.id, create_queue(a.id, "Line"))
    assert _claim(app, a.id, a.agent) == contact_id
    with app.app_context(), tenant_context(a.id):
        contact = db.session.get(Contact, contact_id)
        kinds = [
            e.kind
            for e in db.session.scalars(
                select(ContactEvent).where(ContactEvent.contact_id == contact_id).order_by(ContactEvent.id)
            )
        ]
    assert contact.status == ContactStatus.ASSIGNED and contact.assigned_to_id == a.agent
    assert kinds == [EventKind.OFFERED, EventKind.ASSIGNED]


def test_agent_without_languages_is_told_so(app, two_tenants, create_queue, create_contact):
    with app.app_context(), tenant_context(two_tenants.a.id), pytest.raises(QueueEmpty, match="language"):
        services.claim_next_contact(two_tenants.a.agent)


@pytest.mark.slow
def test_concurrent_agents_never_claim_the_same_contact(
    app, create_tenant, create_user, set_languages, create_queue, create_contact
):
    """16 agents race for 300 contacts on real PostgreSQL: each is claimed exactly once."""
    from app.auth.models import TenantRole

    tenant_id = create_tenant("race-clinic")
    agents = [create_user(f"racer{i}@example.test", memberships=((tenant_id, TenantRole.AGENT),)) for i in range(16)]
    for agent in agents:
        set_languages(agent, "en")
    # E-mail, so that each agent keeps claiming (a phone call holds the agent until it is done).
    queue = create_queue(tenant_id, "Race line", channel=Channel.EMAIL)
    with app.app_context(), tenant_context(tenant_id):
        for i in range(300):
            services.offer_contact(queue_id=queue, patient_ref=f"P-{i}")
        db.session.commit()

    claims: dict[int, list[int]] = {agent: [] for agent in agents}
    barrier = threading.Barrier(len(agents))

    def work(agent_id):
        barrier.wait()
        while (contact_id := _claim(app, tenant_id, agent_id)) is not None:
            claims[agent_id].append(contact_id)

    threads = [threading.Thread(target=work, args=(agent,)) for agent in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    claimed = [contact_id for ids in claims.values() for contact_id in ids]
    assert len(claimed) == 300 and len(set(claimed)) == 300
    assert sum(1 for ids in claims.values() if ids) > 1  # the work really was shared
    with app.app_context(), tenant_context(tenant_id):
        assigned_events = db.session.scalar(
            select(func.count()).select_from(ContactEvent).where(ContactEvent.kind == EventKind.ASSIGNED)
        )
    assert assigned_events == 300
