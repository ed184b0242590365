"""Reviews through HTTP: a supervisor scores a contact beside its conversation; the agent reads only their own
reviews and acknowledges them (audited); scorecards are versioned; calibration shows the reviewers' spread."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.auth.models import TenantRole
from app.extensions import db
from app.quality import figures, reviews, scorecards
from app.quality.models import Review, ScorecardVersion
from app.tenancy import tenant_context
from tests.quality.conftest import IN_WEEK, STANDARD_AUTO_FAIL

ALL_MET = {"answer-q1": "met", "answer-q2": "met", "answer-q3": "met"}


def _review_url(slug, contact_id):
    return f"/t/{slug}/quality/contacts/{contact_id}/review"


def _reviews(app, tenant_id) -> list[Review]:
    with app.app_context(), tenant_context(tenant_id):
        found = list(db.session.scalars(select(Review).order_by(Review.id)))
        db.session.expunge_all()
        return found


def _audit(app, tenant_id, action) -> list[AuditEvent]:
    with app.app_context(), tenant_context(tenant_id):
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


@pytest.fixture
def reviewed_world(two_tenants, phone_queue, create_handled_contact, create_scorecard):
    a = two_tenants.a
    return {
        "contact": create_handled_contact(a.id, phone_queue, a.agent),
        "scorecard": create_scorecard(a.id),
    }


def _submit(browser, slug, contact_id, scorecard_id, answers=ALL_MET, comment="Good call"):
    return browser.post(_review_url(slug, contact_id), {"scorecard": str(scorecard_id), "comment": comment, **answers})


def test_the_review_page_shows_the_conversation_beside_the_scorecard(
    app, two_tenants, reviewed_world, login_as, create_queue
):
    a = two_tenants.a
    with app.app_context(), tenant_context(a.id):
        from app.hotline import services

        contact = services.get_contact(reviewed_world["contact"])
        services.add_note(contact, a.agent, "Patient asked about the X-ray results")
        db.session.commit()
    page = login_as(a.supervisor).get(_review_url(a.slug, reviewed_world["contact"]))
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="conversation-timeline"' in text and "Patient asked about the X-ray results" in text
    assert "Greets the patient by name" in text and "Identity verified" in text
    assert len(_audit(app, a.id, "contact.viewed")) == 1


def test_a_supervisor_scores_a_contact_and_the_score_is_stored(app, two_tenants, reviewed_world, login_as):
    a = two_tenants.a
    supervisor = login_as(a.supervisor)
    answers = {"answer-q1": "not_met", "answer-q2": "met", "answer-q3": "met"}
    answer = _submit(supervisor, a.slug, reviewed_world["contact"], reviewed_world["scorecard"], answers)
    assert answer.status_code == 303
    [review] = _reviews(app, a.id)
    assert review.score == Decimal("75.00") and not review.auto_failed
    assert review.agent_id == a.agent and review.reviewer_id == a.supervisor
    assert len(_audit(app, a.id, "quality_review.submitted")) == 1
    page = supervisor.get(answer.headers["Location"]).get_data(as_text=True)
    assert "75 %" in page


def test_an_auto_fail_item_not_met_scores_zero_through_http(app, two_tenants, reviewed_world, login_as):
    a = two_tenants.a
    answers = {"answer-q1": "met", "answer-q2": "met", "answer-q3": "not_met"}
    assert (
        _submit(
            login_as(a.manager), a.slug, reviewed_world["contact"], reviewed_world["scorecard"], answers
        ).status_code
        == 303
    )
    [review] = _reviews(app, a.id)
    assert review.score == Decimal("0.00") and review.auto_failed


def test_a_review_with_a_missing_or_unknown_answer_is_refused_and_nothing_written(
    app, two_tenants, reviewed_world, login_as
):
    a = two_tenants.a
    supervisor = login_as(a.supervisor)
    for answers in (
        {"answer-q1": "met", "answer-q2": "met"},
        {"answer-q1": "met", "answer-q2": "perhaps", "answer-q3": "met"},
    ):
        answer = _submit(supervisor, a.slug, reviewed_world["contact"], reviewed_world["scorecard"], answers)
        assert answer.status_code == 400
        assert "Answer every question." in answer.get_data(as_text=True)
    for data in (
        {"scorecard": "abc", **ALL_MET},
        {"scorecard": str(reviewed_world["scorecard"]), "comment": "x" * 2001, **ALL_MET},
    ):
        assert supervisor.post(_review_url(a.slug, reviewed_world["contact"]), data).status_code == 400
    assert _reviews(app, a.id) == []


def test_bad_input_is_answered_in_the_users_language(app, two_tenants, reviewed_world, create_user, login_as):
    a = two_tenants.a
    german = create_user("prueferin@example.test", memberships=((a.id, TenantRole.SUPERVISOR),), locale="de")
    answer = _submit(
        login_as(german), a.slug, reviewed_world["contact"], reviewed_world["scorecard"], {"answer-q1": "met"}
    )
    assert answer.status_code == 400
    with app.test_request_context():
        from flask_babel import force_locale, gettext

        with force_locale("de"):
            expected = gettext("Answer every question.")
    assert expected in answer.get_data(as_text=True)


def test_each_reviewer_reviews_a_contact_once(app, two_tenants, reviewed_world, login_as):
    a = two_tenants.a
    supervisor = login_as(a.supervisor)
    assert _submit(supervisor, a.slug, reviewed_world["contact"], reviewed_world["scorecard"]).status_code == 303
    again = _submit(supervisor, a.slug, reviewed_world["contact"], reviewed_world["scorecard"])
    assert again.status_code == 409
    assert len(_reviews(app, a.id)) == 1


def test_an_open_contact_cannot_be_reviewed(app, two_tenants, reviewed_world, phone_queue, create_contact, login_as):
    a = two_tenants.a
    waiting = create_contact(a.id, phone_queue)
    assert _submit(login_as(a.supervisor), a.slug, waiting, reviewed_world["scorecard"]).status_code == 400
    assert _reviews(app, a.id) == []


def test_nobody_reviews_their_own_contact(
    app, two_tenants, phone_queue, create_handled_contact, create_scorecard, login_as
):
    a = two_tenants.a
    own = create_handled_contact(a.id, phone_queue, a.supervisor)
    assert _submit(login_as(a.supervisor), a.slug, own, create_scorecard(a.id)).status_code == 400
    assert _reviews(app, a.id) == []


def test_editing_a_used_scorecard_makes_a_new_version_and_old_reviews_keep_theirs(
    app, two_tenants, reviewed_world, phone_queue, create_handled_contact, login_as
):
    a = two_tenants.a
    manager, supervisor = login_as(a.manager), login_as(a.supervisor)
    card = reviewed_world["scorecard"]
    answers = {"answer-q1": "not_met", "answer-q2": "met", "answer-q3": "met"}
    assert _submit(supervisor, a.slug, reviewed_world["contact"], card, answers).status_code == 303
    [before] = _reviews(app, a.id)

    edited = manager.post(
        f"/t/{a.slug}/quality/scorecards/{card}",
        {
            "name": "Standard",
            "weighted": "Greeting | Greets the patient by name | 9\nHandling | Answers the question asked | 1",
            "auto_fail": STANDARD_AUTO_FAIL,
            "active": "y",
        },
    )
    assert edited.status_code == 303
    with app.app_context(), tenant_context(a.id):
        versions = db.session.scalars(select(ScorecardVersion).order_by(ScorecardVersion.number)).all()
        assert [v.number for v in versions] == [1, 2]
        assert versions[0].questions[0]["weight"] == 1 and versions[1].questions[0]["weight"] == 9
    [after] = _reviews(app, a.id)
    assert after.version_id == before.version_id and after.score == before.score == Decimal("75.00")
    page = supervisor.get(f"/t/{a.slug}/quality/reviews/{after.id}").get_data(as_text=True)
    assert "version 1" in page and "75 %" in page

    # A new review uses version 2: the same answers now score 1 of 10.
    second = create_handled_contact(a.id, phone_queue, a.agent)
    assert _submit(supervisor, a.slug, second, card, answers).status_code == 303
    newest = _reviews(app, a.id)[-1]
    assert newest.version_id != before.version_id and newest.score == Decimal("10.00")


def test_an_unused_version_is_edited_in_place(app, two_tenants, create_scorecard):
    a = two_tenants.a
    card = create_scorecard(a.id)
    with app.app_context(), tenant_context(a.id):
        view = scorecards.save_scorecard(card, name="Standard", weighted="S | Q | 2", auto_fail="")
        db.session.commit()
        assert view.version.number == 1 and len(view.questions) == 1


def test_scorecard_input_is_checked(app, two_tenants, login_as, create_scorecard):
    a = two_tenants.a
    manager = login_as(a.manager)
    create_scorecard(a.id, name="Taken")
    for data, message in (
        ({"name": "X", "weighted": "Only one cell"}, "Section | Question | Weight"),
        ({"name": "X", "weighted": "S | Q | heavy"}, "whole number from 0 to 100"),
        ({"name": "X", "weighted": "S | Q | 101"}, "whole number from 0 to 100"),
        ({"name": "X", "weighted": ""}, "Write at least one question."),
        ({"name": "X", "weighted": "S | Q | 0"}, "At least one question needs a weight above 0."),
        ({"name": "Taken", "weighted": "S | Q | 1"}, "Another scorecard already has this name."),
    ):
        answer = manager.post(f"/t/{a.slug}/quality/scorecards/new", data)
        assert answer.status_code == 400, data
        assert message in answer.get_data(as_text=True).replace("&#34;", '"')
    with app.app_context(), tenant_context(a.id):
        assert [s.name for s in scorecards.scorecards()] == ["Taken"]


def test_only_managers_edit_scorecards_others_read_them(app, two_tenants, create_scorecard, login_as):
    a = two_tenants.a
    card = create_scorecard(a.id)
    url = f"/t/{a.slug}/quality/scorecards/{card}"
    for reader in (a.supervisor, a.clinic_admin):
        browser = login_as(reader)
        assert browser.get(url).status_code == 200
        assert browser.post(url, {"name": "Hijack", "weighted": "S | Q | 1"}).status_code == 403
    assert login_as(a.agent).get(url).status_code == 403


def test_the_agent_sees_their_review_and_acknowledges_it_with_a_comment(app, two_tenants, reviewed_world, login_as):
    a = two_tenants.a
    _submit(login_as(a.supervisor), a.slug, reviewed_world["contact"], reviewed_world["scorecard"], comment="Well done")
    [review] = _reviews(app, a.id)
    agent = login_as(a.agent)
    mine = agent.get(f"/t/{a.slug}/quality/mine").get_data(as_text=True)
    assert f"/quality/mine/{review.id}" in mine and "to acknowledge" in mine
    page = agent.get(f"/t/{a.slug}/quality/mine/{review.id}").get_data(as_text=True)
    assert "Well done" in page and "100 %" in page
    answer = agent.post(f"/t/{a.slug}/quality/mine/{review.id}", {"comment": "Thanks, noted"})
    assert answer.status_code == 303
    [review] = _reviews(app, a.id)
    assert review.acknowledged_at is not None and review.agent_comment == "Thanks, noted"
    [event] = _audit(app, a.id, "quality_review.acknowledged")
    assert event.actor_id == a.agent and event.object_id == str(review.id) and event.details == {"commented": True}
    # Once: a second acknowledgement is a conflict and changes nothing.
    assert agent.post(f"/t/{a.slug}/quality/mine/{review.id}", {"comment": "Changed"}).status_code == 409
    assert _reviews(app, a.id)[0].agent_comment == "Thanks, noted"
    # The reviewer sees the acknowledgement.
    assert "Thanks, noted" in login_as(a.supervisor).get(f"/t/{a.slug}/quality/reviews/{review.id}").get_data(
        as_text=True
    )


def test_an_agent_sees_only_their_own_reviews(
    app, two_tenants, reviewed_world, phone_queue, create_handled_contact, create_user, login_as
):
    a = two_tenants.a
    colleague = create_user("colleague@example.test", memberships=((a.id, TenantRole.AGENT),))
    other = create_handled_contact(a.id, phone_queue, colleague)
    supervisor = login_as(a.supervisor)
    _submit(supervisor, a.slug, other, reviewed_world["scorecard"], comment="Colleague's secret feedback")
    [review] = _reviews(app, a.id)
    agent = login_as(a.agent)
    assert "Colleague" not in agent.get(f"/t/{a.slug}/quality/mine").get_data(as_text=True)
    assert agent.get(f"/t/{a.slug}/quality/mine/{review.id}").status_code == 404
    assert agent.post(f"/t/{a.slug}/quality/mine/{review.id}", {"comment": "x"}).status_code == 404
    # The reviewers' pages are not the agent's.
    assert agent.get(f"/t/{a.slug}/quality/reviews/{review.id}").status_code == 403
    assert agent.get(f"/t/{a.slug}/quality/reviews").status_code == 403
    assert agent.get(_review_url(a.slug, other)).status_code == 403
    assert _reviews(app, a.id)[0].acknowledged_at is None


def test_clinic_admins_read_their_clinics_reviews_without_names_unless_shown(
    app, two_tenants, reviewed_world, login_as
):
    a = two_tenants.a
    _submit(login_as(a.supervisor), a.slug, reviewed_world["contact"], reviewed_world["scorecard"])
    [review] = _reviews(app, a.id)
    admin = login_as(a.clinic_admin)
    listing = admin.get(f"/t/{a.slug}/quality/reviews").get_data(as_text=True)
    assert f"/quality/reviews/{review.id}" in listing and "agent-a" not in listing
    assert admin.get(f"/t/{a.slug}/quality/reviews/{review.id}").status_code == 200
    # Scoring is the reviewers' work, and the conversation is not the clinic admin's to read here.
    assert admin.get(_review_url(a.slug, reviewed_world["contact"])).status_code == 403
    with app.app_context():
        from app.tenants.models import Tenant

        db.session.get(Tenant, a.id).agent_names_to_clinic = True
        db.session.commit()
    assert "agent-a" in admin.get(f"/t/{a.slug}/quality/reviews").get_data(as_text=True)


def test_calibration_shows_each_reviewers_score_and_the_spread(app, two_tenants, reviewed_world, create_user, login_as):
    a = two_tenants.a
    third = create_user(
        "third-reviewer@example.test", name="Third Reviewer", memberships=((a.id, TenantRole.SUPERVISOR),)
    )
    contact, card = reviewed_world["contact"], reviewed_world["scorecard"]
    _submit(login_as(a.supervisor), a.slug, contact, card, {"answer-q1": "met", "answer-q2": "met", "answer-q3": "met"})
    _submit(
        login_as(a.manager), a.slug, contact, card, {"answer-q1": "not_met", "answer-q2": "met", "answer-q3": "met"}
    )
    _submit(login_as(third), a.slug, contact, card, {"answer-q1": "na", "answer-q2": "not_met", "answer-q3": "met"})
    # Scores 100, 75 and 0 (the third: greeting not applicable, answer not met: 0 of 3 points).
    with app.app_context(), tenant_context(a.id):
        from app.quality.calibration import calibration

        found = calibration()
        [row] = found.contacts
        assert sorted(row.scores.values()) == [Decimal("0.00"), Decimal("75.00"), Decimal("100.00")]
        assert row.spread.range == Decimal("100.00")
        assert row.spread.stdev == Decimal("42.49")  # population stdev of 0, 75, 100
        by_text = {q.question.text: q.spread for q in row.questions}
        assert by_text["Greets the patient by name"].range == Decimal("100.00")  # met vs not met; n/a left out
        assert by_text["Answers the question asked"].stdev == Decimal("47.14")
        assert by_text["Identity verified"].range == Decimal("0.00")
    page = login_as(a.clinic_admin).get(f"/t/{a.slug}/quality/calibration").get_data(as_text=True)
    assert f'id="calibrated-{contact}"' in page and "100 / 42.49" in page


def test_a_contact_reviewed_once_is_not_calibration(app, two_tenants, reviewed_world, login_as):
    a = two_tenants.a
    _submit(login_as(a.supervisor), a.slug, reviewed_world["contact"], reviewed_world["scorecard"])
    page = login_as(a.manager).get(f"/t/{a.slug}/quality/calibration").get_data(as_text=True)
    assert "No contact has been scored by two reviewers yet." in page


def test_agent_quality_figures_for_the_agent_page(
    app, two_tenants, phone_queue, create_handled_contact, create_scorecard, login_as
):
    a = two_tenants.a
    card = create_scorecard(a.id)
    supervisor = login_as(a.supervisor)
    for answers in (
        {"answer-q1": "met", "answer-q2": "met", "answer-q3": "met"},
        {"answer-q1": "not_met", "answer-q2": "met", "answer-q3": "met"},
        {"answer-q1": "met", "answer-q2": "met", "answer-q3": "not_met"},
    ):
        _submit(supervisor, a.slug, create_handled_contact(a.id, phone_queue, a.agent), card, answers)
    later = create_handled_contact(a.id, phone_queue, a.agent, resolved_at=IN_WEEK.replace(month=5))
    _submit(supervisor, a.slug, later, card)

    class March:
        start = IN_WEEK.replace(day=1, hour=0)
        end = IN_WEEK.replace(month=4, day=1, hour=0)

    with app.app_context(), tenant_context(a.id):
        figures_of_march = figures.agent_quality(a.agent, March)
        nobody = figures.agent_quality(a.supervisor, March)
    assert figures_of_march == figures.AgentQuality(Decimal("58.33"), 3, 1)
    assert nobody == figures.AgentQuality(None, 0, 0)
    with app.app_context(), tenant_context(two_tenants.b.id):
        assert figures.agent_quality(a.agent, March) == figures.AgentQuality(None, 0, 0)


@pytest.mark.tenant_isolation
def test_a_reviewer_of_clinic_a_cannot_review_or_read_clinic_bs(
    app, two_tenants, reviewed_world, create_queue, create_handled_contact, create_scorecard, login_as
):
    a, b = two_tenants.a, two_tenants.b
    contact_b = create_handled_contact(b.id, create_queue(b.id, "B"), b.agent)
    card_b = create_scorecard(b.id, name="Scorecard of B")
    _submit(login_as(b.supervisor), b.slug, contact_b, card_b)
    [review_b] = _reviews(app, b.id)
    supervisor = login_as(a.supervisor)
    # Through clinic A's address, clinic B's ids name nothing.
    assert supervisor.get(_review_url(a.slug, contact_b)).status_code == 404
    assert _submit(supervisor, a.slug, contact_b, reviewed_world["scorecard"]).status_code == 404
    assert _submit(supervisor, a.slug, reviewed_world["contact"], card_b).status_code == 404
    assert supervisor.get(f"/t/{a.slug}/quality/reviews/{review_b.id}").status_code == 404
    assert supervisor.get(f"/t/{a.slug}/quality/scorecards/{card_b}").status_code == 404
    assert login_as(a.agent).get(f"/t/{a.slug}/quality/mine/{review_b.id}").status_code == 404
    # Clinic B's own address is closed to clinic A's people.
    assert supervisor.get(f"/t/{b.slug}/quality/").status_code == 404
    assert login_as(a.clinic_admin).get(f"/t/{b.slug}/quality/reviews").status_code == 404
    for page in ("/quality/", "/quality/reviews", "/quality/calibration", "/quality/scorecards"):
        assert "Scorecard of B" not in supervisor.get(f"/t/{a.slug}{page}").get_data(as_text=True)
    assert len(_reviews(app, a.id)) == 0 and len(_reviews(app, b.id)) == 1
    with app.app_context(), tenant_context(a.id):
        assert reviews.recent_reviews() == []


def test_out_of_range_ids_and_control_characters_are_refused_without_a_5xx(app, two_tenants, reviewed_world, login_as):
    a = two_tenants.a
    supervisor = login_as(a.supervisor)
    contact = reviewed_world["contact"]
    for scorecard in ("99999999999999999999999", "2147483648", "-1"):
        answer = supervisor.post(_review_url(a.slug, contact), {"scorecard": scorecard, **ALL_MET})
        assert answer.status_code == 404, scorecard
    answer = _submit(supervisor, a.slug, contact, reviewed_world["scorecard"], comment="Bell \x07 here")
    assert answer.status_code == 400
    assert supervisor.get(f"{_review_url(a.slug, contact)}?scorecard=99999999999999999999").status_code == 200
    manager = login_as(a.manager)
    assert (
        manager.post(f"/t/{a.slug}/quality/scorecards/new", {"name": "X", "weighted": "S | Q\x00 | 1"}).status_code
        == 400
    )
    assert (
        manager.post(f"/t/{a.slug}/quality/sample", {"week_start": "99999-01-01", "per_agent": "5"}).status_code == 400
    )
    agent = login_as(a.agent)
    assert agent.get(f"/t/{a.slug}/quality/mine/99999999999").status_code == 404
    assert _reviews(app, a.id) == []


def test_clinic_admins_review_only_where_the_provider_lets_the_clinic_qa_staff_review(
    app, two_tenants, reviewed_world, login_as
):
    a, b = two_tenants.a, two_tenants.b
    admin = login_as(a.clinic_admin)
    url = _review_url(a.slug, reviewed_world["contact"])
    assert admin.get(url).status_code == 403
    assert _submit(admin, a.slug, reviewed_world["contact"], reviewed_world["scorecard"]).status_code == 403
    assert "Review contact" not in admin.get(f"/t/{a.slug}/quality/").get_data(as_text=True)
    assert _reviews(app, a.id) == []

    # Only a manager turns it on, for one clinic; audited.
    assert admin.post(f"/t/{a.slug}/quality/reviewers", {"allowed": "y"}).status_code == 403
    manager = login_as(a.manager)
    assert manager.post(f"/t/{a.slug}/quality/reviewers", {"allowed": "y"}).status_code == 303
    assert [
        event.details
        for event in _audit(app, a.id, "setting.changed")
        if event.details.get("setting") == "clinic_admins_review_quality"
    ] == [{"setting": "clinic_admins_review_quality", "value": True}]

    assert admin.get(url).status_code == 200
    assert _submit(admin, a.slug, reviewed_world["contact"], reviewed_world["scorecard"]).status_code == 303
    [review] = _reviews(app, a.id)
    assert review.reviewer_id == a.clinic_admin and review.score == Decimal("100.00")
    # Clinic B's admins are not let in by clinic A's choice.
    assert not login_as(b.clinic_admin).get(f"/t/{b.slug}/quality/").get_data(as_text=True).count("Review contact")
    with app.app_context():
        from app.tenants.models import Tenant

        assert db.session.get(Tenant, b.id).clinic_admins_review_quality is False

    # Off again: refused again.
    assert manager.post(f"/t/{a.slug}/quality/reviewers", {}).status_code == 303
    assert admin.get(url).status_code == 403


def test_the_reviewers_switch_needs_a_valid_form(two_tenants, login_as):
    a = two_tenants.a
    manager = login_as(a.manager)
    assert manager.post(f"/t/{a.slug}/quality/reviewers", {"allowed": "y"}, csrf=False).status_code == 400
