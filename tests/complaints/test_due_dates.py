"""Due dates count business days of the clinic's calendar: the receiving day does not count, a complaint is
due at closing time of the Nth business day after it; weekends, public holidays and closures are skipped."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from tests.complaints.conftest import base, complaint

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*parts) -> datetime:
    return datetime(*parts, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("received", "acknowledge_by"),
    [
        # Friday morning: Monday is day 1, Tuesday day 2, due at Tuesday's closing (17:00).
        (berlin(2026, 3, 13, 10, 0), berlin(2026, 3, 17, 17, 0)),
        # Friday after closing and Saturday count the same: the weekend is no business day.
        (berlin(2026, 3, 13, 22, 30), berlin(2026, 3, 17, 17, 0)),
        (berlin(2026, 3, 14, 11, 0), berlin(2026, 3, 17, 17, 0)),
        # Maundy Thursday: Good Friday and Easter Monday are public holidays in Germany (Tue is day 1, Wed day 2).
        (berlin(2026, 4, 2, 10, 0), berlin(2026, 4, 8, 17, 0)),
    ],
)
def test_acknowledgement_is_due_two_business_days_later_over_weekends_and_holidays(
    app, clinic, open_complaint, received, acknowledge_by
):
    a = clinic.a
    item = complaint(app, a.id, open_complaint(a.id, received_at=received))
    assert item.acknowledge_due_at == acknowledge_by.astimezone(UTC)


def test_resolution_is_due_twenty_business_days_later_across_the_dst_change_and_easter(app, clinic, open_complaint):
    a = clinic.a
    # Friday 13 March: 20 business days skip four weekends, Good Friday and Easter Monday: Tuesday 14 April,
    # 17:00 in summer time (UTC+2) although received in winter time.
    item = complaint(app, a.id, open_complaint(a.id, received_at=berlin(2026, 3, 13, 10, 0)))
    assert item.resolve_due_at == datetime(2026, 4, 14, 15, 0, tzinfo=UTC)


def test_a_closure_of_the_clinic_is_skipped_like_a_holiday(app, clinic, open_complaint, create_closure):
    a = clinic.a
    create_closure(a.id, date(2026, 3, 16), "Staff training")
    item = complaint(app, a.id, open_complaint(a.id, received_at=berlin(2026, 3, 13, 10, 0)))
    assert item.acknowledge_due_at == berlin(2026, 3, 18, 17, 0).astimezone(UTC)


def test_the_clinics_own_targets_apply_to_complaints_received_afterwards(app, clinic, login_as, open_complaint):
    a = clinic.a
    earlier = open_complaint(a.id, received_at=berlin(2026, 3, 13, 10, 0))
    manager = login_as(a.manager)
    response = manager.post(
        f"{base(a.slug)}/settings",
        {"categories": "Waiting time\nParking", "acknowledge_days": "3", "resolve_days": "10"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    later = complaint(app, a.id, open_complaint(a.id, received_at=berlin(2026, 3, 13, 10, 0), category="Parking"))
    assert later.acknowledge_due_at == berlin(2026, 3, 18, 17, 0).astimezone(UTC)
    assert later.resolve_due_at == berlin(2026, 3, 27, 17, 0).astimezone(UTC)
    assert complaint(app, a.id, earlier).acknowledge_due_at == berlin(2026, 3, 17, 17, 0).astimezone(UTC)
    page = manager.get(f"{base(a.slug)}/settings").get_data(as_text=True)
    assert "Waiting time\nParking" in page


def test_a_complaint_registered_on_the_page_gets_its_due_dates_from_now(app, clinic, login_as):
    a = clinic.a
    with time_machine.travel(berlin(2026, 3, 17, 10, 0), tick=True):  # a Tuesday morning
        response = login_as(a.supervisor).post(
            f"{base(a.slug)}/new",
            {
                "category": "waiting_time",
                "severity": "high",
                "summary": "Nobody called back",
                "contact_ids": str(a.contact),
            },
        )
    assert response.status_code == 302, response.get_data(as_text=True)
    complaint_id = int(response.headers["Location"].rsplit("/", 1)[1])
    item = complaint(app, a.id, complaint_id)
    assert item.acknowledge_due_at == berlin(2026, 3, 19, 17, 0).astimezone(UTC)
    assert (item.patient_ref, item.language, item.severity) == ("P-1", "en", "high")
