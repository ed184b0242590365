"""The error page renders after a database error (issue 13, item 6): the handlers roll back first."""

from flask import Blueprint

from app import create_app
from app.auth.access import SIGNED_IN
from app.auth.models import User
from app.extensions import db
from tests.conftest import Browser

# The settings of the session's app that a second app on the same database and Redis needs.
SHARED_SETTINGS = (
    "SWITCHBOARD_ENV",
    "TESTING",
    "SECRET_KEY",
    "INSTANCE_PATH",
    "SQLALCHEMY_DATABASE_URI",
    "MIGRATION_DATABASE_URL",
    "REDIS_URL",
    "MAIL_SERVER",
    "MAIL_PORT",
    "ARGON2_TIME_COST",
    "ARGON2_MEMORY_COST",
    "SESSION_COOKIE_SECURE",
    "PUBLIC_BASE_URL",
)


def _app_with_a_broken_route(app):
    """A second app (the session's has served requests: no blueprint can be added to it) with one route
    whose flush fails, leaving the session to be rolled back (SQLAlchemy's PendingRollbackError)."""
    broken = Blueprint("broken", __name__)

    @broken.get("/broken")
    @SIGNED_IN
    def duplicate_user():
        db.session.add(User(email="admin-a@example.test", name="Twin", password_hash="x"))
        db.session.flush()

    application = create_app({key: app.config[key] for key in SHARED_SETTINGS})
    application.register_blueprint(broken)
    return application


def test_the_error_page_renders_with_its_layout_after_a_failed_flush(app, two_tenants):
    application = _app_with_a_broken_route(app)
    try:
        browser = Browser(application.test_client())
        browser.login("admin-a@example.test")
        answer = browser.get("/broken")
        assert answer.status_code == 500
        assert answer.content_type.startswith("text/html")
        page = answer.get_data(as_text=True)
        assert "Something went wrong on our side" in page
        assert 'action="/logout"' in page  # the layout, for the logged-in user it loaded again
        assert browser.get("/tenants").status_code == 200  # and the next request is served normally
    finally:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()
