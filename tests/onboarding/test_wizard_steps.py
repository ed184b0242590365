"""The wizard's own steps: each shows the step list and a Next to the following step; bad input and another
clinic's objects are refused in the user's language with nothing written."""

import pytest
from sqlalchemy import func, select

from app.billing.models import PricePlan
from app.extensions import db
from app.hotline.models import Queue, Team
from app.sla.models import SlaPolicy
from app.tenancy import tenant_context

STEPS = [
    ("/t/north-clinic/onboarding/agents", "/t/north-clinic/onboarding/queues"),
    ("/t/north-clinic/onboarding/queues", "/t/north-clinic/onboarding/sla"),
    ("/t/north-clinic/onboarding/sla", "/t/north-clinic/onboarding/price-plan"),
    ("/t/north-clinic/onboarding/price-plan", "/t/north-clinic/onboarding/channels"),
    ("/t/north-clinic/onboarding/channels", "/t/north-clinic/settings/reports"),
]


@pytest.mark.parametrize(("step", "following"), STEPS)
def test_each_step_shows_the_step_list_and_a_next_to_the_following_step(draft_clinic, step, following):
    page = draft_clinic["browser"].get(step).get_data(as_text=True)
    assert 'class="steps"' in page
    assert 'aria-current="step"' in page
    assert f'<a role="button" href="{following}">Next</a>' in page


def _counts(app, tenant_id: int) -> tuple[int, int, int, int]:
    with app.app_context(), tenant_context(tenant_id):
        return tuple(
            db.session.scalar(select(func.count()).select_from(model)) for model in (Queue, Team, SlaPolicy, PricePlan)
        )


@pytest.mark.tenant_isolation
def test_bad_input_and_another_clinics_objects_are_refused_and_nothing_is_written(
    app, draft_clinic, two_tenants, make_clinic_ready
):
    browser = draft_clinic["browser"]
    make_clinic_ready(two_tenants.b.id)  # clinic B: a team and a price plan this manager does not see
    with app.app_context(), tenant_context(two_tenants.b.id):
        team_b = db.session.scalar(select(Team.id))
    before, before_b = _counts(app, draft_clinic["id"]), _counts(app, two_tenants.b.id)

    for url, data, field, message in (
        ("queues", {"channels": []}, "channels", "Choose at least one channel."),
        ("queues", {"channels": ["fax"]}, "channels", None),
        ("queues", {"channels": ["phone"], "team_id": str(team_b)}, "team_id", "Not a valid choice."),
        ("sla", {"template": "99/1"}, "template", "Not a valid choice."),
        ("sla", {}, "template", None),
        ("price-plan", {"source": str(two_tenants.b.id)}, "source", "Not a valid choice."),
        ("price-plan", {"source": "x"}, "source", None),
    ):
        response = browser.post(f"/t/north-clinic/onboarding/{url}", data)
        assert response.status_code == 400, (url, data)
        page = response.get_data(as_text=True)
        assert f'id="{field}-error">' in page, (url, data)
        if message:
            assert message in page
    assert _counts(app, draft_clinic["id"]) == before
    assert _counts(app, two_tenants.b.id) == before_b


def test_the_steps_answer_404_to_a_manager_of_another_clinic_and_403_to_its_agent(app, two_tenants, login_as):
    for step in ("agents", "queues", "sla", "price-plan", "channels"):
        assert login_as(two_tenants.b.manager).get(f"/t/clinic-a/onboarding/{step}").status_code == 404
        assert login_as(two_tenants.a.agent).get(f"/t/clinic-a/onboarding/{step}").status_code == 403
