"""The chat widget's world: two clinics, each with chat queues in English and German, a widget on its own
origin, knowledge articles, and agents who speak the languages; a `Visitor` that calls the widget's API as a
browser on the clinic's page would (its Origin, its key, its token, no cookies)."""

import itertools
import threading
from dataclasses import dataclass, field

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from app.chat.widgets import forget_widgets
from app.extensions import db, redis_connection
from app.hotline import services as hotline
from app.hotline.models import Channel, Proficiency, Topic
from app.jobs import get_queue
from app.knowledge import services as knowledge
from app.push import mark_present
from app.tenancy import tenant_context
from tests.conftest import World
from tests.infra.burst_worker import BurstWorker

ORIGINS = {"a": "http://127.0.0.1:8765", "b": "http://127.0.0.1:8766"}
_keys = itertools.count(1)


@dataclass
class Visitor:
    """A patient's browser on a clinic's page: every call carries the page's Origin and the widget's key."""

    client: object
    key: str
    origin: str
    token: str | None = None
    session: dict = field(default_factory=dict)

    def headers(self, **extra) -> dict:
        headers = {"Origin": self.origin, "X-Widget-Key": self.key, **extra}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def get(self, path: str, **kwargs):
        return self.client.get(f"/chat/v1{path}", headers=self.headers(**kwargs.pop("headers", {})), **kwargs)

    def post(self, path: str, json=None, **kwargs):
        return self.client.post(
            f"/chat/v1{path}", json=json, headers=self.headers(**kwargs.pop("headers", {})), **kwargs
        )

    def start(self, **fields):
        form = {"language": "en", "topic": "appointments", "name": "Anna Muster", "consent": True, **fields}
        response = self.post("/sessions", json=form)
        if response.status_code == 201:
            self.token = response.json["token"]
            self.session = response.json["session"]
        return response

    def say(self, body: str, key: str | None = None):
        return self.post("/messages", json={"body": body, "client_key": key or f"k{next(_keys)}"})


@pytest.fixture
def chat_world(app, two_tenants, create_queue, create_chat_widget):
    """Both clinics with chat queues (en appointments, en general, de general), a widget, articles, agents."""
    world = two_tenants
    for key in ("a", "b"):
        clinic = world[key]
        clinic.chat_queue = create_queue(clinic.id, "Chat EN", channel=Channel.CHAT, language="en")
        clinic.chat_general = create_queue(
            clinic.id, "Chat EN general", channel=Channel.CHAT, language="en", topic=Topic.GENERAL
        )
        clinic.chat_de = create_queue(clinic.id, "Chat DE", channel=Channel.CHAT, language="de", topic=Topic.GENERAL)
        clinic.email_queue = create_queue(clinic.id, "E-mail EN", channel=Channel.EMAIL, language="en")
        clinic.callback_queue = create_queue(clinic.id, "Callback EN", channel=Channel.CALLBACK, language="en")
        clinic.key = create_chat_widget(clinic.id, origins=(ORIGINS[key],))
        clinic.origin = ORIGINS[key]
        with app.app_context(), tenant_context(clinic.id):
            clinic.article = knowledge.create_article(
                language="en",
                title=f"Parking at clinic {key.upper()}",
                body="Visitors park in the garage behind the building; the first hour is free.",
                author_id=None,
            ).id
            knowledge.create_article(
                language="de",
                title=f"Parken bei Klinik {key.upper()}",
                body="Besucher parken in der Tiefgarage hinter dem Gebäude.",
                author_id=None,
            )
            db.session.commit()
        with app.app_context():
            hotline.set_agent_languages(clinic.agent, {"en": Proficiency.NATIVE, "de": Proficiency.FLUENT})
            db.session.commit()
    with app.app_context():
        forget_widgets()
    return world


@pytest.fixture
def visitor(app, chat_world):
    """A visitor of clinic `key`'s page (a new browser each call)."""

    def _visitor(key: str = "a") -> Visitor:
        clinic = chat_world[key]
        return Visitor(app.test_client(), clinic.key, clinic.origin)

    return _visitor


@pytest.fixture
def agents_present(app, chat_world):
    """Both clinics' agents have a staff page open (app/push presence)."""
    with app.app_context():
        for key in ("a", "b"):
            mark_present(chat_world[key].id, chat_world[key].agent)
    return chat_world


def run_jobs(app) -> None:
    with app.app_context():
        BurstWorker([get_queue("outbound"), get_queue("default")], connection=redis_connection()).work(burst=True)


__all__ = ["World", "Visitor", "run_jobs"]


@pytest.fixture(scope="session")
def chat_server(app):
    """The test app on a free loopback port (werkzeug, threaded): streams need a real server and socket."""

    class _Quiet(WSGIRequestHandler):
        def log(self, *args, **kwargs):
            pass

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, name="chat-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)
