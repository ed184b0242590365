"""People already on the platform: a manager adds the provider's existing agents to a clinic at once, no
invitation, searchable by name and language; nobody else can be added that way."""

from datetime import time

from sqlalchemy import func, select

from app.audit.models import AuditEvent
from app.auth.models import Membership, TenantRole
from app.extensions import db
from app.hotline.models import Team, TeamMember
from app.tenancy import tenant_context
from app.tenants.models import Invitation
from tests.onboarding.conftest import page_text

AGENTS = "/t/north-clinic/onboarding/agents"


def _roles(app, user_id: int, tenant_id: int) -> set[TenantRole]:
    with app.app_context():
        return set(
            db.session.scalars(
                select(Membership.role).where(Membership.user_id == user_id, Membership.tenant_id == tenant_id)
            )
        )


def _people(app, create_tenant, create_user, set_languages, draft_clinic) -> dict:
    sister = draft_clinic["sister"]
    foreign = create_tenant("west-clinic", name="West Clinic")  # another manager's clinic
    people = {
        "sam": create_user("sam@provider.test", name="Sam Turner", memberships=((sister, TenantRole.AGENT),)),
        "ada": create_user("ada@provider.test", name="Ada Lovel", memberships=((sister, TenantRole.AGENT),)),
        "foreigner": create_user(
            "fred@elsewhere.test", name="Fred Foreign", memberships=((foreign, TenantRole.AGENT),)
        ),
        "admin": create_user("cleo@clinic.test", name="Cleo Admin", memberships=((sister, TenantRole.CLINIC_ADMIN),)),
        "foreign": foreign,
    }
    set_languages(people["sam"], "en", "de")
    set_languages(people["ada"], "fr")
    set_languages(people["foreigner"], "de")
    return people


def test_the_list_shows_the_providers_agents_by_name_and_language(
    app, draft_clinic, create_tenant, create_user, set_languages
):
    _people(app, create_tenant, create_user, set_languages, draft_clinic)
    browser = draft_clinic["browser"]

    every = page_text(browser.get(AGENTS))
    assert "Sam Turner" in every and "Ada Lovel" in every
    assert "Fred Foreign" not in every  # an agent of a clinic this manager is not assigned to
    assert "Cleo Admin" not in every  # a clinic admin is nobody's agent

    german = page_text(browser.get(AGENTS + "?language=de"))
    assert "Sam Turner" in german and "Ada Lovel" not in german
    by_name = page_text(browser.get(AGENTS + "?q=lovel"))
    assert "Ada Lovel" in by_name and "Sam Turner" not in by_name
    assert "No agent matches." in page_text(browser.get(AGENTS + "?q=nobody"))


def test_existing_agents_are_added_without_invitation_into_a_new_team_and_audited(
    app, draft_clinic, create_tenant, create_user, set_languages
):
    people = _people(app, create_tenant, create_user, set_languages, draft_clinic)
    browser = draft_clinic["browser"]

    response = browser.post(AGENTS, {"agents": [str(people["sam"]), str(people["ada"])], "new_team": "Day team"})

    assert response.status_code == 302
    assert "Agents added to the clinic: 2." in page_text(browser.get(AGENTS))
    clinic = draft_clinic["id"]
    assert _roles(app, people["sam"], clinic) == {TenantRole.AGENT}
    assert _roles(app, people["ada"], clinic) == {TenantRole.AGENT}
    with app.app_context(), tenant_context(clinic):
        assert db.session.scalar(select(func.count()).select_from(Invitation)) == 0
        team = db.session.scalar(select(Team).where(Team.name == "Day team"))
        assert (team.languages, team.covers_from.hour, team.covers_until.hour) == (["de", "en"], 8, 17)
        assert sorted(m.user_id for m in team.members) == sorted([people["sam"], people["ada"]])
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "membership.changed")).all()
        added = sorted(
            (int(e.object_id), e.details["via"]) for e in events if e.details.get("role") == TenantRole.AGENT.value
        )
        assert added == sorted([(people["sam"], "existing_agent"), (people["ada"], "existing_agent")])

    # Adding one again into the existing team keeps one membership and puts them in the team.
    with app.app_context(), tenant_context(clinic):
        team_id = team.id
    browser.post(
        "/t/north-clinic/settings/teams",
        {"name": "Night team", "languages": ["en"], "covers_from": "17:00", "covers_until": "08:00"},
    )
    with app.app_context(), tenant_context(clinic):
        night = db.session.scalar(select(Team.id).where(Team.name == "Night team"))
    assert browser.post(AGENTS, {"agents": [str(people["sam"])], "team_id": str(night)}).status_code == 302
    with app.app_context(), tenant_context(clinic):
        assert db.session.scalars(select(TeamMember.user_id).where(TeamMember.team_id == night)).all() == [
            people["sam"]
        ]
        assert db.session.scalar(select(func.count()).select_from(TeamMember).where(TeamMember.team_id == team_id)) == 2
    assert _roles(app, people["sam"], clinic) == {TenantRole.AGENT}


def test_agents_of_other_clinics_clinic_admins_and_bad_input_are_refused_and_nothing_is_written(
    app, draft_clinic, create_tenant, create_user, set_languages, two_tenants
):
    people = _people(app, create_tenant, create_user, set_languages, draft_clinic)
    browser = draft_clinic["browser"]
    clinic = draft_clinic["id"]
    with app.app_context(), tenant_context(two_tenants.b.id):
        team_b = Team(
            name="B team",
            languages=["en"],
            covers_from=time(0),
            covers_until=time(0),
        )
        db.session.add(team_b)
        db.session.commit()
        team_b_id = team_b.id

    for data, field in (
        ({"agents": [str(people["foreigner"])]}, "agents"),
        ({"agents": [str(people["admin"])]}, "agents"),
        ({"agents": [str(two_tenants.b.agent)]}, "agents"),
        ({"agents": ["not-a-number"]}, "agents"),
        ({"agents": []}, "agents"),
        ({"agents": [str(people["sam"])], "team_id": str(team_b_id)}, "team_id"),
        ({"agents": [str(people["sam"])], "new_team": "x" * 81}, "new_team"),
    ):
        response = browser.post(AGENTS, data)
        assert response.status_code == 400, data
        assert f'id="{field}-error">' in response.get_data(as_text=True), data
    assert browser.get(AGENTS + "?language=xx").status_code == 400
    assert browser.get(AGENTS + "?q=" + "a" * 200).status_code == 400
    with app.app_context():
        assert (
            db.session.scalar(select(func.count()).select_from(Membership).where(Membership.tenant_id == clinic)) == 1
        )
    with app.app_context(), tenant_context(two_tenants.b.id):
        assert db.session.scalar(select(func.count()).select_from(TeamMember)) == 0
    assert _roles(app, people["sam"], clinic) == set()
