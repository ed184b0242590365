"""A statement judges e-mails by business time as the contract's policy says: weekends, closures and public
holidays do not count. Contacts go through the real offer path; the expected due times are worked out here by hand."""

from datetime import datetime, time, timedelta

from app.billing import pricing
from app.extensions import db
from app.hotline import services as hotline
from app.hotline.models import Channel, Contact, ContactStatus, Topic
from app.sla import contracts, statements
from app.sla import services as sla
from app.sla.models import SlaClock
from app.tenancy import tenant_context
from app.tenants.calendar import public_holidays
from tests.sla.conftest import BERLIN, last_month


def _working_week(month):
    """A Friday of `month` whose next Monday to Wednesday are working days (no German public holiday)."""
    day = month + timedelta(days=(4 - month.weekday()) % 7)
    holidays = set(public_holidays("DE", None, month.year)) | set(public_holidays("DE", None, month.year + 1))
    while any(day + timedelta(days=n) in holidays for n in (0, 3, 4, 5)):
        day += timedelta(days=7)
    return day


def test_first_responses_are_judged_in_business_time_with_closures(app, create_tenant, create_queue, create_closure):
    tenant_id = create_tenant("business-time")  # business hours Monday to Friday, 08:00–17:00 Berlin
    month = last_month()
    friday = _working_week(month)
    monday, tuesday, wednesday = (friday + timedelta(days=n) for n in (3, 4, 5))
    assert wednesday.month == month.month  # every contact is offered in the statement's month
    mail = create_queue(tenant_id, "Mail", channel=Channel.EMAIL, topic=Topic.TEST_RESULTS, target_seconds=3600)
    with app.app_context(), tenant_context(tenant_id):
        sla.save_policy(
            None, name="Mail 4 business hours", service_level_percent=80, answer_within_seconds=20,
            channel=Channel.EMAIL, first_response_seconds=4 * 3600, clock=SlaClock.BUSINESS_HOURS,
        )  # fmt: skip
        db.session.commit()

    def at(day, hour, minute=0):
        return datetime.combine(day, time(hour, minute), BERLIN)

    def offer(offered, answered):
        with app.app_context(), tenant_context(tenant_id):
            contact, _ = hotline.offer_contact(queue_id=mail, patient_ref="P", offered_at=offered)
            contact.status, contact.first_response_at = ContactStatus.RESOLVED, answered
            contact.resolved_at = answered
            db.session.commit()
            return contact.id

    # Friday 16:00 + 4 business hours = 1 h on Friday + 3 h from Monday 08:00: due Monday 11:00.
    offer(at(friday, 16), at(monday, 10, 30))  # met (a calendar clock would have missed it by days)
    # Wednesday 09:00 + 4 h = 13:00; answered at 14:00: missed.
    offer(at(wednesday, 9), at(wednesday, 14))
    # Friday 16:30, with Monday closed for training: due Tuesday 11:30; answered Tuesday 11:00: met.
    create_closure(tenant_id, monday, "Training")
    offer(at(friday, 16, 30), at(tuesday, 11))
    with app.app_context(), tenant_context(tenant_id):
        dues = db.session.scalars(db.select(Contact.due_at).order_by(Contact.id)).all()
        assert [due.astimezone(BERLIN) for due in dues] == [at(monday, 11), at(wednesday, 13), at(tuesday, 11, 30)]
        pricing.save_plan(effective_from=month, currency="EUR", base_fee=100, rates={}, author_id=None)
        contracts.save_contract(
            effective_from=month, credit_mode="per_metric", cap_percent="10",
            terms={"exclude_closures": False, "metrics": [
                {"key": "first_response", "target": "90", "tiers": [["90", "2.5"], ["50", "5"]]}]},
            author_id=None,
        )  # fmt: skip
        statements.close_due_statements(tenant_id)
        [statement] = statements.statements()
        [row] = statement.figures["metrics"]
    assert (row["first_response_due"], row["first_response_met"], row["result"]) == (3, 2, "66.7")
    assert (row["met"], row["credit_percent"], statement.figures["credit"]) == (False, "2.5", "2.50")
