"""One "Next contact" across an agent's clinics: the claim's rule, the pooled claim, its isolation and its pages."""

import re
import threading
from contextlib import ExitStack
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select, text

from app import push
from app.auth.models import Membership, TenantRole, User
from app.extensions import db
from app.hotline import agent_states, pool, services
from app.hotline.models import (
    AgentState,
    AgentStatePeriod,
    AgentStatus,
    Channel,
    Contact,
    ContactStatus,
    Proficiency,
    Queue,
    Team,
    TeamMember,
)
from app.hotline.services import QueueEmpty
from app.tenancy import tenant_context
from app.tenants.models import Tenant, TenantStatus
from tests.conftest import World

# A Tuesday; Berlin is UTC+1 in March before the change to summer time.
TUESDAY = datetime(2026, 3, 17, tzinfo=UTC)
LONG_AGO = 3 * 24 * 3600


@pytest.fixture
def pooled(app, two_tenants, create_tenant, create_user, set_languages):
    """Clinics A, B and C, and one agent serving all three (besides A's and B's own agents)."""
    c = create_tenant("clinic-c", name="Clinic C")
    clinics = World(a=two_tenants.a.id, b=two_tenants.b.id, c=c)
    agent = create_user(
        "pooled@example.test", memberships=tuple((tenant_id, TenantRole.AGENT) for tenant_id in clinics.values())
    )
    set_languages(agent, "en")
    return World(clinics=clinics, agent=agent, world=two_tenants)


def _claim_across(app, agent_id, at=None):
    with app.app_context():
        try:
            tenant, contact_id = pool.claim_next_across(agent_id, at=at)
            db.session.commit()
            return tenant.id, contact_id
        except QueueEmpty:
            db.session.rollback()
            return None


def _change_queue(app, tenant_id, queue_id, **values):
    with app.app_context(), tenant_context(tenant_id):
        queue = db.session.get(Queue, queue_id)
        for name, value in values.items():
            setattr(queue, name, value)
        db.session.commit()


def _team(app, tenant_id, queue_id, covers_from, covers_until, members=()):
    with app.app_context(), tenant_context(tenant_id):
        team = Team(name="Team", languages=["en"], covers_from=covers_from, covers_until=covers_until)
        db.session.add(team)
        db.session.flush()
        db.session.add_all(TeamMember(team_id=team.id, user_id=user_id) for user_id in members)
        db.session.get(Queue, queue_id).team_id = team.id
        db.session.commit()


def test_pooled_claim_takes_the_most_urgent_contact_across_clinics(app, pooled, create_queue, create_contact):
    clinics = pooled.clinics
    # E-mail: the agent holds several at once, so every claim is possible.
    queues = {key: create_queue(tenant_id, f"Mail {key}", channel=Channel.EMAIL) for key, tenant_id in clinics.items()}
    oldest_c = create_contact(clinics.c, queues["c"], age_seconds=900)
    middle_a = create_contact(clinics.a, queues["a"], age_seconds=600)
    newest_b = create_contact(clinics.b, queues["b"], age_seconds=30)
    taken = [_claim_across(app, pooled.agent) for _ in range(4)]
    assert taken == [(clinics.c, oldest_c), (clinics.a, middle_a), (clinics.b, newest_b), None]


def test_a_pooled_agents_busy_time_follows_each_claim_to_its_clinic(app, pooled, create_queue, create_contact):
    """Busy already, the agent's busy period moves to the clinic of each contact claimed: the one before ends
    when the next begins (no gap, no overlap), the wallboards of every clinic they serve hear of it, and a
    further claim in the same clinic changes nothing."""
    clinics = pooled.clinics
    queues = {key: create_queue(tenant_id, f"Mail {key}", channel=Channel.EMAIL) for key, tenant_id in clinics.items()}
    create_contact(clinics.b, queues["b"], age_seconds=900)
    create_contact(clinics.a, queues["a"], age_seconds=600)
    create_contact(clinics.a, queues["a"], age_seconds=300)
    start = datetime.now(UTC)
    moments = [start + timedelta(minutes=n) for n in range(4)]
    with app.app_context(), ExitStack() as listening:
        mailboxes = {
            tenant_id: listening.enter_context(push.listen([push.clinic_channel(tenant_id)]))
            for tenant_id in clinics.values()
        }
        agent_states.change_state(pooled.agent, AgentState.AVAILABLE, at=moments[0])
        db.session.commit()
        taken = [_claim_across(app, pooled.agent, at=moment)[0] for moment in moments[1:]]
        heard = {tenant_id: _agents_heard(tenant_id, mailbox) for tenant_id, mailbox in mailboxes.items()}
    assert taken == [clinics.b, clinics.a, clinics.a]
    with app.app_context():
        periods = db.session.execute(
            select(
                AgentStatePeriod.state,
                AgentStatePeriod.tenant_id,
                AgentStatePeriod.started_at,
                AgentStatePeriod.ended_at,
            )
            .where(AgentStatePeriod.user_id == pooled.agent)
            .order_by(AgentStatePeriod.started_at, AgentStatePeriod.id)
        ).all()
        since = db.session.get(AgentStatus, pooled.agent).since
    assert [tuple(period) for period in periods] == [
        (AgentState.AVAILABLE, None, moments[0], moments[1]),
        (AgentState.BUSY, clinics.b, moments[1], moments[2]),
        (AgentState.BUSY, clinics.a, moments[2], None),
    ]
    assert since == moments[2]
    # Available, busy (in B) and busy in A were announced once each, in every clinic; the third claim, nothing.
    assert heard == {tenant_id: 3 * [pooled.agent] for tenant_id in clinics.values()}


def _agents_heard(tenant_id: int, mailbox) -> list[int]:
    """The agents whose state the clinic's channel announced, up to a marker published now."""
    marker = {"kind": "marker", "id": -1}
    push.publish(push.clinic_channel(tenant_id), marker)
    heard = []
    while (data := mailbox.get(timeout=10)) != marker:
        if data.get("kind") == "agent":
            heard.append(data["id"])
    return heard


def test_priority_decides_between_clinics_when_due_at_the_same_time(app, pooled, create_queue, create_contact):
    clinics = pooled.clinics
    low = create_contact(clinics.a, create_queue(clinics.a, "Low", channel=Channel.EMAIL), priority=1)
    high = create_contact(clinics.b, create_queue(clinics.b, "High", channel=Channel.EMAIL), priority=5)
    with app.app_context():
        with tenant_context(clinics.a):
            due = db.session.get(Contact, low).due_at
        with tenant_context(clinics.b):
            db.session.get(Contact, high).due_at = due
            db.session.commit()
    assert _claim_across(app, pooled.agent) == (clinics.b, high)


@pytest.mark.parametrize(
    ("floor", "skill", "offered"),
    [
        (None, Proficiency.WORKING, True),
        (Proficiency.FLUENT, Proficiency.WORKING, False),
        (Proficiency.FLUENT, Proficiency.FLUENT, True),
        (Proficiency.FLUENT, Proficiency.NATIVE, True),
        (Proficiency.NATIVE, Proficiency.FLUENT, False),
    ],
)
def test_queue_proficiency_floor(app, pooled, create_queue, create_contact, floor, skill, offered):
    clinic = pooled.clinics.a
    queue = create_queue(clinic, "Deutsch", language="de")
    _change_queue(app, clinic, queue, min_proficiency=floor)
    contact = create_contact(clinic, queue)
    with app.app_context():
        services.set_agent_languages(pooled.agent, {"de": skill})
        db.session.commit()
    assert _claim_across(app, pooled.agent) == ((clinic, contact) if offered else None)


@pytest.mark.parametrize(
    ("covers_from", "covers_until", "utc_time", "offered"),
    [
        (time(8), time(17), time(7, 0), True),  # 08:00 in Berlin: the first minute counts
        (time(8), time(17), time(6, 59), False),  # 07:59 in Berlin
        (time(8), time(17), time(16, 0), False),  # 17:00 in Berlin: the end does not
        (time(22), time(6), time(22, 30), True),  # overnight, 23:30 in Berlin
        (time(22), time(6), time(1, 0), True),  # overnight, 02:00 in Berlin
        (time(22), time(6), time(12, 0), False),  # overnight team at 13:00
        (time(9), time(9), time(3, 0), True),  # equal ends: all day
    ],
)
def test_team_coverage_hours_in_the_clinics_local_time(
    app, pooled, create_queue, create_contact, covers_from, covers_until, utc_time, offered
):
    clinic = pooled.clinics.a
    queue = create_queue(clinic, "Covered")
    _team(app, clinic, queue, covers_from, covers_until)
    contact = create_contact(clinic, queue, age_seconds=LONG_AGO)
    at = datetime.combine(TUESDAY.date(), utc_time, tzinfo=UTC)
    assert _claim_across(app, pooled.agent, at=at) == ((clinic, contact) if offered else None)


@pytest.mark.parametrize(("member", "offered"), [("pooled", True), ("other", False)])
def test_a_team_that_lists_members_is_offered_to_them_only(app, pooled, create_queue, create_contact, member, offered):
    clinic = pooled.clinics.a
    queue = create_queue(clinic, "Members only")
    _team(app, clinic, queue, time(0), time(0), members=[pooled.agent if member == "pooled" else pooled.world.a.agent])
    contact = create_contact(clinic, queue)
    assert _claim_across(app, pooled.agent) == ((clinic, contact) if offered else None)


def test_opted_out_clinic_is_left_out_and_can_be_opted_back_in(app, pooled, create_queue, create_contact):
    clinics = pooled.clinics
    in_b = create_contact(clinics.b, create_queue(clinics.b, "B line"), age_seconds=900)
    in_a = create_contact(clinics.a, create_queue(clinics.a, "A line", channel=Channel.EMAIL))
    with app.app_context():
        pool.set_in_pool(db.session.get(User, pooled.agent), clinics.b, False)
        db.session.commit()
        waiting = {item.tenant.id: (item.in_pool, item.waiting) for item in pool.waiting_across(pooled.agent)}
    assert waiting == {clinics.a: (True, 1), clinics.b: (False, 1), clinics.c: (True, 0)}
    assert _claim_across(app, pooled.agent) == (clinics.a, in_a)
    assert _claim_across(app, pooled.agent) is None
    with app.app_context():
        pool.set_in_pool(db.session.get(User, pooled.agent), clinics.b, True)
        db.session.commit()
    assert _claim_across(app, pooled.agent) == (clinics.b, in_b)


def test_a_clinic_no_longer_served_is_neither_listed_nor_claimed_from(app, pooled, create_queue, create_contact):
    clinics = pooled.clinics
    in_b = create_contact(clinics.b, create_queue(clinics.b, "B line", channel=Channel.EMAIL), age_seconds=900)
    in_a = create_contact(clinics.a, create_queue(clinics.a, "A line", channel=Channel.EMAIL))
    with app.app_context():
        db.session.get(Tenant, clinics.b).status = TenantStatus.SUSPENDED
        db.session.commit()
        listed = [(item.tenant.id, item.tenant.name) for item in pool.waiting_across(pooled.agent)]
    assert listed == [(clinics.a, "Clinic A"), (clinics.c, "Clinic C")]
    assert _claim_across(app, pooled.agent) == (clinics.a, in_a)
    assert _claim_across(app, pooled.agent) is None
    with app.app_context(), tenant_context(clinics.b):
        assert db.session.get(Contact, in_b).status == ContactStatus.WAITING


def test_opting_in_a_clinic_one_does_not_serve_is_not_found(app, pooled, create_tenant):
    elsewhere = create_tenant("clinic-d")
    with app.app_context():
        user = db.session.get(User, pooled.agent)
        with pytest.raises(services.NotFound):
            pool.set_in_pool(user, elsewhere, False)


def test_one_phone_call_at_a_time_across_clinics(app, pooled, create_queue, create_contact):
    clinics = pooled.clinics
    first_call = create_contact(clinics.a, create_queue(clinics.a, "Phone A"), age_seconds=900)
    create_contact(clinics.b, create_queue(clinics.b, "Phone B"), age_seconds=600)
    mail = create_contact(clinics.c, create_queue(clinics.c, "Mail C", channel=Channel.EMAIL))
    assert _claim_across(app, pooled.agent) == (clinics.a, first_call)
    # On a call in A: B's older phone call waits, C's e-mail comes instead; the single-clinic claim agrees.
    assert _claim_across(app, pooled.agent) == (clinics.c, mail)
    with app.app_context(), tenant_context(clinics.b), pytest.raises(QueueEmpty):
        services.claim_next_contact(pooled.agent)
    with app.app_context():
        assert services.waiting_for_agent_by_tenant(pooled.agent, [clinics.b]) == {clinics.b: 0}


def test_single_clinic_claim_of_an_agent_serving_several_clinics_reads_the_others(
    app, pooled, create_queue, create_contact
):
    clinics = pooled.clinics
    call_a = create_contact(clinics.a, create_queue(clinics.a, "Phone A"))
    call_b = create_contact(clinics.b, create_queue(clinics.b, "Phone B"))
    with app.app_context(), tenant_context(clinics.a):
        assert services.claim_next_contact(pooled.agent) == call_a
        db.session.commit()
    with app.app_context(), tenant_context(clinics.a):
        db.session.get(Contact, call_a).status = ContactStatus.RESOLVED
        db.session.commit()
    with app.app_context(), tenant_context(clinics.b):
        assert services.claim_next_contact(pooled.agent) == call_b
        db.session.commit()


def test_chats_up_to_the_queues_limit(app, pooled, create_queue, create_contact):
    clinic = pooled.clinics.a
    queue = create_queue(clinic, "Chat", channel=Channel.CHAT)
    _change_queue(app, clinic, queue, chat_limit=2)
    contacts = [create_contact(clinic, queue, patient_ref=f"P-{n}", age_seconds=100 - n) for n in range(3)]
    assert [_claim_across(app, pooled.agent) for _ in range(3)] == [(clinic, contacts[0]), (clinic, contacts[1]), None]


@pytest.mark.parametrize(
    ("state", "offered"),
    [(AgentState.AVAILABLE, True), (AgentState.BUSY, True), (AgentState.AWAY, False), (AgentState.OFFLINE, False)],
)
def test_only_agents_taking_offers_get_contacts(app, pooled, create_queue, create_contact, state, offered):
    clinic = pooled.clinics.a
    contact = create_contact(clinic, create_queue(clinic, "Mail", channel=Channel.EMAIL))
    with app.app_context():
        agent_states.change_state(pooled.agent, state, reason="break" if state == AgentState.AWAY else None)
        db.session.commit()
    assert _claim_across(app, pooled.agent) == ((clinic, contact) if offered else None)


def test_racing_pooled_agents_never_get_the_same_contact(app, pooled, create_user, set_languages, create_queue):
    """Six agents, each serving two or three of the clinics, drain 90 contacts at once on real connections."""
    clinics = list(pooled.clinics.values())
    agents = [pooled.agent]
    for n in range(5):
        served = clinics if n % 2 else [clinics[n % 3], clinics[(n + 1) % 3]]
        agents.append(create_user(f"racer{n}@example.test", memberships=tuple((t, TenantRole.AGENT) for t in served)))
        set_languages(agents[-1], "en")
    # E-mail: a phone call would hold each racer after their first claim.
    queues = {tenant_id: create_queue(tenant_id, "Race", channel=Channel.EMAIL) for tenant_id in clinics}
    with app.app_context():
        for tenant_id, queue in queues.items():
            with tenant_context(tenant_id):
                for n in range(30):
                    services.offer_contact(queue_id=queue, patient_ref=f"P-{n}")
                db.session.commit()
    claims: dict[int, list] = {agent: [] for agent in agents}
    barrier = threading.Barrier(len(agents))

    def work(agent_id):
        barrier.wait()
        while (claimed := _claim_across(app, agent_id)) is not None:
            claims[agent_id].append(claimed)

    threads = [threading.Thread(target=work, args=(agent,)) for agent in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    taken = [claim for found in claims.values() for claim in found]
    assert len(taken) == 90 and len(set(taken)) == 90
    assert sum(1 for found in claims.values() if found) > 1
    with app.app_context():
        for tenant_id in clinics:
            with tenant_context(tenant_id):
                owners = dict(db.session.execute(select(Contact.id, Contact.assigned_to_id)).all())
            for agent, found in claims.items():
                assert all(owners[contact] == agent for tenant, contact in found if tenant == tenant_id)


@pytest.mark.tenant_isolation
def test_pooled_claim_never_reaches_a_clinic_the_agent_does_not_serve(
    app, two_tenants, create_user, set_languages, create_queue, create_contact
):
    a, b = two_tenants.a, two_tenants.b
    agent = create_user("only-a@example.test", memberships=((a.id, TenantRole.AGENT), (b.id, TenantRole.MANAGER)))
    set_languages(agent, "en")
    create_contact(b.id, create_queue(b.id, "B line"), age_seconds=900)
    assert _claim_across(app, agent) is None
    with app.app_context():
        assert [item.tenant.id for item in pool.waiting_across(agent)] == [a.id]
        assert services.waiting_for_agent_by_tenant(agent, [a.id]) == {a.id: 0}
    with app.app_context(), tenant_context(b.id):
        assert db.session.scalar(select(Contact.status)) == ContactStatus.WAITING


@pytest.mark.tenant_isolation
@pytest.mark.database_wall
def test_claim_statement_naming_another_clinic_claims_nothing_under_row_level_security(
    app, two_tenants, set_languages, create_queue, create_contact
):
    """The claim's SQL is `text()`, which the application's wall cannot check: PostgreSQL's policy stops it."""
    a, b = two_tenants.a, two_tenants.b
    set_languages(a.agent, "en")
    create_contact(b.id, create_queue(b.id, "B line", channel=Channel.EMAIL), age_seconds=900)
    with app.app_context(), tenant_context(a.id):
        params = {"tenant": b.id, "agent": a.agent, "moment": datetime.now(UTC), "voice_free": True}
        assert db.session.execute(services._CLAIM, params).scalar_one_or_none() is None
        db.session.rollback()
    with app.app_context(), tenant_context(b.id):
        assert db.session.scalar(select(Contact.status)) == ContactStatus.WAITING


@pytest.mark.tenant_isolation
def test_looking_at_several_clinics_puts_the_callers_tenant_setting_back(app, pooled, create_queue, create_contact):
    clinics = pooled.clinics
    in_b = create_contact(clinics.b, create_queue(clinics.b, "B line", channel=Channel.EMAIL))
    with app.app_context(), tenant_context(clinics.a):
        db.session.execute(select(Contact.id)).all()  # the transaction runs under clinic A's setting
        peeks = services.peek_clinics(pooled.agent, [clinics.b, clinics.c])
        setting = db.session.execute(text("SELECT current_setting('app.tenant_id', true)")).scalar_one()
        visible = db.session.execute(text("SELECT count(*) FROM contacts")).scalar_one()
        db.session.rollback()
    assert peeks[clinics.b][0].contact_id == in_b and peeks[clinics.c] == (None, 0)
    assert setting == str(clinics.a)
    assert visible == 0 or not _row_level_security_on(app)


def _row_level_security_on(app) -> bool:
    from tests.infra.postgres import database_walls

    return database_walls() != "orm"


def test_clinic_picker_counts_with_the_claims_rule(app, pooled, create_queue, create_contact):
    clinics = pooled.clinics
    create_contact(clinics.a, create_queue(clinics.a, "Open", channel=Channel.EMAIL))
    create_contact(clinics.a, create_queue(clinics.a, "In-house", in_house=True))
    expert = create_queue(clinics.b, "Experts")
    _change_queue(app, clinics.b, expert, min_proficiency=Proficiency.NATIVE)
    create_contact(clinics.b, expert)
    with app.app_context():
        counts = services.waiting_for_agent_by_tenant(pooled.agent, list(clinics.values()))
        across = {item.tenant.id: item.waiting for item in pool.waiting_across(pooled.agent)}
    assert counts == across == {clinics.a: 1, clinics.b: 0, clinics.c: 0}


# --- pages ---------------------------------------------------------------------------------------------


def test_combined_queue_page_and_next_contact_lead_into_the_contacts_clinic(
    app, pooled, login_as, create_queue, create_contact
):
    clinics = pooled.clinics
    contact = create_contact(clinics.c, create_queue(clinics.c, "C line"), age_seconds=120)
    browser = login_as(pooled.agent)
    page = browser.get("/queue")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Clinic C" in body and "Clinic A" in body and "pool-next" in body
    assert 'href="/queue"' in browser.get("/tenants").get_data(as_text=True)
    summary = browser.get("/queue/summary.json").get_json()
    assert {item["id"]: item["waiting"] for item in summary["clinics"]}[clinics.c] == 1
    answer = browser.post("/queue/next")
    assert answer.status_code == 302
    assert answer.headers["Location"].endswith(f"/t/clinic-c/contacts/{contact}")
    assert browser.get(answer.headers["Location"]).status_code == 200
    empty = browser.post("/queue/next", follow_redirects=True)
    assert empty.status_code == 200 and "No contact is waiting for you" in empty.get_data(as_text=True)


def test_combined_queue_refuses_bad_input_and_foreign_clinics(app, pooled, login_as, create_tenant):
    elsewhere = create_tenant("clinic-d")
    browser = login_as(pooled.agent)
    clinic_b = pooled.clinics.b
    assert browser.post(f"/queue/clinics/{clinic_b}/pool", {"in_pool": "maybe"}).status_code == 400
    assert browser.post(f"/queue/clinics/{clinic_b}/pool", {"in_pool": "0"}, csrf=False).status_code == 400
    assert browser.post("/queue/next", csrf=False).status_code == 400
    assert browser.post(f"/queue/clinics/{elsewhere}/pool", {"in_pool": "0"}).status_code == 404
    assert browser.post(f"/queue/clinics/{clinic_b}/pool", {"in_pool": "0"}).status_code == 302
    with app.app_context():
        in_pool = dict(
            db.session.execute(
                select(Membership.tenant_id, Membership.in_pool).where(Membership.user_id == pooled.agent)
            ).all()
        )
    assert in_pool == {pooled.clinics.a: True, clinic_b: False, pooled.clinics.c: True}


def test_combined_queue_page_for_someone_serving_no_clinic_as_agent(app, two_tenants, login_as):
    page = login_as(two_tenants.a.clinic_admin).get("/queue").get_data(as_text=True)
    assert "You do not take contacts for any clinic" in page
    assert not re.search(r'id="pool-next"', page)
