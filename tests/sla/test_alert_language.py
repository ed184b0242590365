"""SLA alert e-mails go to each supervisor and manager in their own language, with links to act on them."""

from flask_babel import force_locale, gettext

from app.auth.models import TenantRole
from app.sla.jobs import schedule_breach_watch
from tests.sla.test_breach_watch import _work


def _subject(app, locale: str, count: int) -> str:
    with app.test_request_context(), force_locale(locale):
        return gettext("%(clinic)s: %(count)d SLA alerts", clinic="Clinic A", count=count)


def test_each_reader_gets_the_alerts_in_their_language_with_links(
    app, two_tenants, create_user, create_queue, create_contact, mailbox
):
    a = two_tenants.a
    create_user("aufsicht@example.test", memberships=((a.id, TenantRole.SUPERVISOR),), locale="de")
    create_user("superviseur@example.test", memberships=((a.id, TenantRole.SUPERVISOR),), locale="fr")
    # Supervisor and manager of the clinic both: one e-mail, not two.
    create_user(
        "both@example.test",
        memberships=((a.id, TenantRole.SUPERVISOR), (a.id, TenantRole.MANAGER)),
        locale="pl",
    )
    queue = create_queue(a.id, "Phone EN", target_seconds=3600)
    breached = create_contact(a.id, queue, age_seconds=5400)  # warning and breach: two alerts

    with app.app_context():
        schedule_breach_watch()
    _work(app)

    mail = {m["To"]: m for m in mailbox if "Clinic A" in m["Subject"]}
    assert sorted(mail) == [
        "aufsicht@example.test",
        "both@example.test",
        "manager-a@example.test",
        "superviseur@example.test",
        "supervisor-a@example.test",
    ]
    subjects = {locale: _subject(app, locale, 2) for locale in ("en", "de", "fr", "pl")}
    assert len(set(subjects.values())) == 4, "the subject is translated in each language"
    assert mail["aufsicht@example.test"]["Subject"] == subjects["de"]
    assert mail["superviseur@example.test"]["Subject"] == subjects["fr"]
    assert mail["both@example.test"]["Subject"] == subjects["pl"]
    # No choice of their own: the clinic's language (English here).
    assert mail["manager-a@example.test"]["Subject"] == subjects["en"]
    with app.test_request_context(), force_locale("de"):
        german_line = gettext("Open the supervisor's page in Switchboard to act on them:")
    body = mail["aufsicht@example.test"].get_content()
    assert german_line in body
    assert f"http://switchboard.test/t/clinic-a/contacts/{breached}" in body
    assert "http://switchboard.test/t/clinic-a/supervisor" in body
    assert "P-1" not in body
