"""An imported file's cells get the input rules of every form (issue 13, item 6): no control characters,
dates within bounds; refused in the preview with the column named, nothing imported."""

from sqlalchemy import text

from tests.campaigns.appointment_helpers import confirm, csv_file, payload_of, row, upload


def _appointment_count(owner_engine) -> int:
    with owner_engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM appointments")).scalar_one()


def test_control_characters_and_out_of_range_dates_in_a_file_are_shown_per_row(login_as, two_tenants, owner_engine):
    browser = login_as(two_tenants.a.manager)
    data = csv_file(
        row("A-1", location="Main\x00building"),
        row("A-2", "P-2", practitioner="Dr.\x1b[2J Weber"),
        row("A-3", "P-3", starts_at="9999-12-31 23:30"),
        row("A-4", "P-4", starts_at="0001-01-01 00:30"),
    )
    page = upload(browser, "clinic-a", data)
    assert page.status_code == 400
    assert payload_of(page) is None
    html = page.get_data(as_text=True)
    assert html.count("Remove the line breaks and invisible control characters") == 2
    assert html.count("Enter a date from 2000-01-01 to 2100-12-31") == 2
    assert _appointment_count(owner_engine) == 0


def test_a_nul_in_the_confirm_payload_is_a_clear_400(login_as, two_tenants, owner_engine):
    browser = login_as(two_tenants.a.manager)
    payload = payload_of(upload(browser, "clinic-a", csv_file(row("A-1"))))
    assert payload
    answer = confirm(browser, "clinic-a", payload + "\x00")
    assert answer.status_code == 400
    assert "control characters" in answer.get_data(as_text=True)
    assert _appointment_count(owner_engine) == 0
