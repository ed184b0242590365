"""The clinic's chat widget settings through HTTP: a manager creates the widget and gets its script tag,
bad origins and addresses are refused with their reasons, every change is audited, a new key withdraws the
old one at once, and nobody else sets up or sees a clinic's widget."""

import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.chat import settings
from app.chat.models import ChatWidget
from app.errors import DomainError
from app.extensions import db
from app.hotline.models import Channel
from app.tenancy import tenant_context


@pytest.fixture
def clinic(two_tenants, create_queue):
    a, b = two_tenants.a, two_tenants.b
    a["email_queue"] = create_queue(a.id, "Messages EN", channel=Channel.EMAIL)
    a["callback_queue"] = create_queue(a.id, "Call me back", channel=Channel.CALLBACK)
    a["phone_queue"] = create_queue(a.id, "Phone EN")
    a["chat_queue"] = create_queue(a.id, "Chat EN", channel=Channel.CHAT)
    b["email_queue"] = create_queue(b.id, "B messages", channel=Channel.EMAIL)
    return two_tenants


def _url(slug, rest="") -> str:
    return f"/t/{slug}/settings/chat/{rest}"


def _form(**values) -> dict:
    return {
        "allowed_origins": "https://www.praxis-nord.example\nhttp://127.0.0.1:8765",
        "privacy_notice_url": "https://www.praxis-nord.example/datenschutz",
        "wait_limit_seconds": "90",
        "message_queue_id": "",
        **values,
    }


def _widget(app, tenant_id) -> tuple | None:
    with app.app_context(), tenant_context(tenant_id):
        w = db.session.scalar(select(ChatWidget))
        if w is None:
            return None
        return (w.public_key, w.allowed_origins, w.privacy_notice_url, w.wait_limit_seconds, w.message_queue_id,
                w.enabled)  # fmt: skip


def _audited(app, tenant_id) -> list[dict]:
    with app.app_context(), tenant_context(tenant_id):
        events = db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "setting.changed", AuditEvent.object_type == "chat_widget")
            .order_by(AuditEvent.id)
        ).all()
        return [{"actor": e.actor_id, **e.details} for e in events]


def test_the_first_visit_shows_that_there_is_no_widget_yet(login_as, clinic):
    a = clinic.a
    page = login_as(a.manager).get(_url(a.slug))
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "The clinic has no chat widget yet." in text and 'name="allowed_origins"' in text
    assert "data-key" not in text


def test_manager_creates_the_widget_and_gets_its_script_tag(app, login_as, clinic):
    a = clinic.a
    manager = login_as(a.manager)
    response = manager.post(
        _url(a.slug),
        _form(
            allowed_origins="HTTPS://WWW.Praxis-Nord.example:443/\n\nhttp://127.0.0.1:8765\nhttps://www.praxis-nord.example"
        ),
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    key, origins, notice, wait, queue, enabled = _widget(app, a.id)
    assert key.startswith("pk_") and len(key) == 27
    assert origins == ["https://www.praxis-nord.example", "http://127.0.0.1:8765"]
    assert (notice, wait, queue, enabled) == ("https://www.praxis-nord.example/datenschutz", 90, None, True)
    page = manager.get(_url(a.slug)).get_data(as_text=True)
    assert (
        f"&lt;script src=&#34;http://switchboard.test/static/widget/chat.js&#34; data-key=&#34;{key}&#34; async&gt;"
        in page
        or f'&lt;script src="http://switchboard.test/static/widget/chat.js" data-key="{key}" async&gt;' in page
    )
    assert "The widget is switched on." in page
    assert "https://www.praxis-nord.example\nhttp://127.0.0.1:8765</textarea>" in page
    assert _audited(app, a.id) == [{"actor": a.manager, "change": "created"}]


def test_a_second_save_changes_the_widget_keeps_its_key_and_is_audited(app, login_as, clinic):
    a = clinic.a
    manager = login_as(a.manager)
    manager.post(_url(a.slug), _form())
    key = _widget(app, a.id)[0]
    response = manager.post(_url(a.slug), _form(wait_limit_seconds="600", message_queue_id=str(a.callback_queue)))
    assert response.status_code == 302
    assert _widget(app, a.id)[0] == key
    assert _widget(app, a.id)[3:5] == (600, a.callback_queue)
    assert _audited(app, a.id)[-1] == {
        "actor": a.manager,
        "change": "updated",
        "fields": ["message_queue_id", "wait_limit_seconds"],
    }


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"allowed_origins": ""}, "This field is required."),
        ({"allowed_origins": "https://*.praxis.example"}, "is not an origin"),
        ({"allowed_origins": "https://www.praxis.example/chat"}, "is not an origin"),
        ({"allowed_origins": "ftp://www.praxis.example"}, "is not an origin"),
        ({"allowed_origins": "www.praxis.example"}, "is not an origin"),
        ({"allowed_origins": "https://user@www.praxis.example"}, "is not an origin"),
        ({"allowed_origins": "https://www.praxis.example?x=1"}, "is not an origin"),
        ({"allowed_origins": "https://www.praxis.example:99999"}, "is not an origin"),
        ({"allowed_origins": "https://bad_host.example"}, "is not an origin"),
        ({"allowed_origins": "https://a.example\u0000"}, "control character"),
        ({"allowed_origins": "\n".join(f"https://s{n}.a.example" for n in range(21))}, "Enter at most 20 origins."),
        ({"privacy_notice_url": ""}, "This field is required."),
        ({"privacy_notice_url": "http://www.praxis.example/privacy"}, "full https address"),
        ({"privacy_notice_url": "javascript:alert(1)"}, "full https address"),
        ({"privacy_notice_url": "https://"}, "full https address"),
        ({"wait_limit_seconds": "9"}, "Enter at least 10 sec."),
        ({"wait_limit_seconds": "3601"}, "Enter at most 1 hr."),
        ({"wait_limit_seconds": "soon"}, "Enter a duration such as"),
        ({"message_queue_id": "999999"}, "Not a valid choice"),
    ],
)
def test_bad_settings_are_refused_with_their_reason_and_nothing_is_written(app, login_as, clinic, bad, message):
    a = clinic.a
    response = login_as(a.manager).post(_url(a.slug), _form(**bad))
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert _widget(app, a.id) is None
    assert _audited(app, a.id) == []


def test_only_e_mail_and_callback_queues_are_offered_for_messages(app, login_as, clinic):
    a = clinic.a
    manager = login_as(a.manager)
    page = manager.get(_url(a.slug)).get_data(as_text=True)
    assert "Messages EN" in page and "Call me back" in page
    assert "Phone EN" not in page and "Chat EN" not in page and "B messages" not in page
    for queue in (a.phone_queue, a.chat_queue, clinic.b.email_queue):
        assert manager.post(_url(a.slug), _form(message_queue_id=str(queue))).status_code == 400
    assert _widget(app, a.id) is None
    # The service holds the rule too, for whatever calls it besides the form.
    with app.app_context(), tenant_context(a.id), pytest.raises(DomainError) as refused:
        settings.save_widget(
            allowed_origins=["https://a.example"],
            privacy_notice_url="https://a.example/p",
            message_queue_id=a.chat_queue,
        )
    assert refused.value.field == "message_queue_id"


def test_plain_http_notices_are_allowed_on_localhost_only(app):
    assert settings.normalise_privacy_notice_url("http://localhost:8000/privacy") == "http://localhost:8000/privacy"
    assert settings.normalise_privacy_notice_url("http://127.0.0.1/p") == "http://127.0.0.1/p"
    with pytest.raises(DomainError):
        settings.normalise_privacy_notice_url("http://localhost.evil.example/p")


def test_origins_are_spelt_as_browsers_send_them(app):
    assert settings.normalise_origins(
        "https://Bücher.example\nhttp://[::1]:8080\nhttps://praxis.example:8443\nhttp://praxis.example:80"
    ) == ["https://xn--bcher-kva.example", "http://[::1]:8080", "https://praxis.example:8443", "http://praxis.example"]


def test_manager_switches_the_widget_off_and_on(app, login_as, clinic):
    a = clinic.a
    manager = login_as(a.manager)
    manager.post(_url(a.slug), _form())
    assert manager.post(_url(a.slug, "switch-off")).status_code == 302
    assert _widget(app, a.id)[5] is False
    assert "The widget is switched off." in manager.get(_url(a.slug)).get_data(as_text=True)
    assert manager.post(_url(a.slug, "switch-on")).status_code == 302
    assert _widget(app, a.id)[5] is True
    assert [e.get("fields") for e in _audited(app, a.id)[1:]] == [["enabled"], ["enabled"]]


def test_a_new_key_replaces_the_old_one_which_then_names_no_clinic(app, login_as, clinic):
    a = clinic.a
    manager = login_as(a.manager)
    manager.post(_url(a.slug), _form())
    old_key = _widget(app, a.id)[0]
    page = manager.get(_url(a.slug)).get_data(as_text=True)
    assert "The current key stops working at once" in page  # the confirmation step before the POST
    assert manager.post(_url(a.slug, "new-key")).status_code == 302
    new_key = _widget(app, a.id)[0]
    assert new_key != old_key and new_key.startswith("pk_")
    assert new_key in manager.get(_url(a.slug)).get_data(as_text=True)
    # The key is all a widget request names its clinic by: across every clinic, the old one names none.
    with app.app_context():
        keys = db.session.scalars(select(ChatWidget.public_key).execution_options(all_tenants=True)).all()
    assert old_key not in keys and new_key in keys
    assert _audited(app, a.id)[-1]["fields"] == ["public_key"]


def test_switching_or_replacing_the_key_needs_the_csrf_token(app, login_as, clinic):
    a = clinic.a
    manager = login_as(a.manager)
    manager.post(_url(a.slug), _form())
    before = _widget(app, a.id)
    assert manager.post(_url(a.slug, "new-key"), csrf=False).status_code == 400
    assert manager.post(_url(a.slug, "switch-off"), csrf=False).status_code == 400
    assert _widget(app, a.id) == before


def test_before_the_widget_exists_there_is_no_key_to_replace(app, login_as, clinic):
    a = clinic.a
    response = login_as(a.manager).post(_url(a.slug, "new-key"))
    assert response.status_code == 404
    assert _widget(app, a.id) is None


def test_clinic_admin_reads_the_settings_and_the_snippet_but_changes_nothing(app, login_as, clinic):
    a = clinic.a
    login_as(a.manager).post(_url(a.slug), _form())
    before = _widget(app, a.id)
    admin = login_as(a.clinic_admin)
    page = admin.get(_url(a.slug))
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert before[0] in text and "https://www.praxis-nord.example" in text
    assert 'name="allowed_origins"' not in text and "new-key" not in text
    for rest in ("", "new-key", "switch-off"):
        assert admin.post(_url(a.slug, rest), _form()).status_code == 403
    assert _widget(app, a.id) == before


@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_agents_and_supervisors_may_not_open_the_widget_settings(app, login_as, clinic, role):
    a = clinic.a
    user = login_as(a[role])
    assert user.get(_url(a.slug)).status_code == 403
    assert user.post(_url(a.slug), _form()).status_code == 403
    assert _widget(app, a.id) is None


@pytest.mark.tenant_isolation
def test_manager_of_b_can_neither_see_nor_change_clinic_as_widget(app, login_as, clinic):
    a, b = clinic.a, clinic.b
    login_as(a.manager).post(_url(a.slug), _form())
    before = _widget(app, a.id)
    manager_b = login_as(b.manager)
    assert manager_b.get(_url(a.slug)).status_code == 404
    for rest in ("", "new-key", "switch-off"):
        assert manager_b.post(_url(a.slug, rest), _form()).status_code == 404
    assert _widget(app, a.id) == before
    # B's own page shows B's state (none), never A's key.
    page = manager_b.get(_url(b.slug)).get_data(as_text=True)
    assert before[0] not in page and "The clinic has no chat widget yet." in page


@pytest.mark.tenant_isolation
def test_manager_of_b_cannot_send_as_messages_to_a_queue_of_a(app, login_as, clinic):
    a, b = clinic.a, clinic.b
    response = login_as(b.manager).post(_url(b.slug), _form(message_queue_id=str(a.email_queue)))
    assert response.status_code == 400
    assert _widget(app, b.id) is None


def _config(app, key: str, origin: str = "https://www.praxis-nord.example"):
    return app.test_client().get(f"/chat/v1/config?key={key}&lang=en", headers={"Origin": origin})


def test_the_widget_api_opens_with_the_current_key_only_and_only_while_switched_on(app, login_as, clinic):
    a = clinic.a
    manager = login_as(a.manager)
    manager.post(_url(a.slug), _form())
    old_key = _widget(app, a.id)[0]
    assert _config(app, old_key).status_code == 200
    assert _config(app, old_key, origin="https://elsewhere.example").status_code == 403
    manager.post(_url(a.slug, "new-key"))
    new_key = _widget(app, a.id)[0]
    assert _config(app, old_key).status_code == 404  # at once: no cache keeps the old key alive
    assert _config(app, new_key).status_code == 200
    manager.post(_url(a.slug, "switch-off"))
    assert _config(app, new_key).status_code == 404
    manager.post(_url(a.slug, "switch-on"))
    assert _config(app, new_key).status_code == 200
