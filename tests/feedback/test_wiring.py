"""A low score reaches quality and sentiment: its contact joins the QA review queue, and its comment is labelled
like any inbound patient message, raising the recovery callback when strongly negative."""

from sqlalchemy import select

from app.extensions import db
from app.hotline.models import Channel, Contact
from app.quality.models import ReviewQueueEntry, SampleReason
from app.tenancy import tenant_context
from tests.feedback.conftest import answers, link_path, run_survey_job, surveys
from tests.sentiment.conftest import run_worker, sentiments_of


def _answer(app, world, sms, browser, create_patient, survey_queue, resolved_contact, score: str, comment: str):
    queue = survey_queue(world.id)
    create_patient(world.id)
    resolved_contact(world, queue)
    run_survey_job(app, world.id)
    [message] = sms.delivered.values()
    assert browser.post(link_path(message["body"]), {"score": score, "comment": comment}).status_code == 200


def test_a_low_score_puts_its_contact_in_the_review_queue_and_raises_the_callback(
    app, two_tenants, sms, browser, create_patient, create_queue, survey_queue, resolved_contact
):
    a, b = two_tenants.a, two_tenants.b
    create_queue(a.id, "Callbacks", channel=Channel.CALLBACK)
    _answer(
        app, a, sms, browser, create_patient, survey_queue, resolved_contact, "1",
        "Terrible service, nobody ever calls back. I am very angry and disappointed!",
    )  # fmt: skip
    [survey] = surveys(app, a.id)
    [answer] = answers(app, a.id)
    with app.app_context(), tenant_context(a.id):
        [entry] = db.session.scalars(select(ReviewQueueEntry)).all()
        assert (entry.contact_id, entry.reason) == (survey.contact_id, SampleReason.LOW_CSAT)
        before = db.session.get(Contact, answer.callback_contact_id).priority
    run_worker(app)
    [label] = sentiments_of(app, a.id)
    assert (label.source, label.source_id, label.contact_id) == ("survey", answer.id, answer.callback_contact_id)
    assert label.label == "negative" and label.pending_text is None  # the text is gone once labelled
    with app.app_context(), tenant_context(a.id):
        assert db.session.get(Contact, answer.callback_contact_id).priority == before + 1
    with app.app_context(), tenant_context(b.id):
        assert db.session.scalars(select(ReviewQueueEntry)).all() == []
    assert sentiments_of(app, b.id) == []


def test_a_good_score_is_not_reviewed_and_its_comment_labelled_positive(
    app, two_tenants, sms, browser, create_patient, survey_queue, resolved_contact
):
    a = two_tenants.a
    _answer(
        app,
        a,
        sms,
        browser,
        create_patient,
        survey_queue,
        resolved_contact,
        "5",
        "Thank you, very friendly and helpful!",
    )
    with app.app_context(), tenant_context(a.id):
        assert db.session.scalars(select(ReviewQueueEntry)).all() == []
    run_worker(app)
    [label] = sentiments_of(app, a.id)
    assert label.source == "survey" and label.label == "positive"
