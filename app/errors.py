"""Domain errors, mapped once to HTTP answers with translated messages."""

import logging

import sentry_sdk
from flask import jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from app.extensions import db
from app.i18n import _, _l

logger = logging.getLogger(__name__)


class DomainError(Exception):
    """A rule of the domain refused the request; `field` names the input at fault, if any."""

    status_code = 400

    def __init__(self, message, field: str | None = None):
        super().__init__(str(message))
        self.message = message
        self.field = field


class NotFound(DomainError):
    """The object does not exist, or exists in a tenant the caller may not see (same answer)."""

    status_code = 404


class Conflict(DomainError):
    status_code = 409


class ClinicNotServed(DomainError):
    """The clinic is suspended or offboarded: its members may not work in it."""

    status_code = 403

    def __init__(self):
        super().__init__(_l("This clinic is currently not served. Please contact your outsourcing manager."))


# One wording per HTTP status for pages and JSON answers alike.
STATUS_MESSAGES = {
    400: _l("The request could not be understood."),
    403: _l("You are not allowed to do this."),
    404: _l("This page does not exist, or you do not have access to it."),
    405: _l("This action is not allowed here."),
    409: _l("This conflicts with existing data."),
    413: _l("The upload is too large."),
    429: _l("Too many attempts. Please wait a minute and try again."),
    500: _l("Something went wrong on our side. The team has been notified."),
    503: _l("The service is briefly unavailable. Please try again in a minute."),
}


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def _rollback() -> None:
    """End the request's transaction before answering: nothing half-written is committed later, and
    the error page (whose layout reads the user's clinics) can query again after a failed flush."""
    try:
        db.session.rollback()
    except Exception:
        logger.exception("rollback before the error page failed")


def _render(status: int, message: str | None = None, headers: dict | None = None):
    _rollback()
    text = message or str(STATUS_MESSAGES.get(status, STATUS_MESSAGES[500]))
    headers = headers or {}
    if _wants_json():
        return jsonify(error=text, status=status), status, headers
    try:
        return render_template("error.html", status=status, message=text), status, headers
    except Exception:
        # The error page itself failed: answer plainly rather than not at all.
        logger.exception("error page failed to render")
        return text, status, {**headers, "Content-Type": "text/plain; charset=utf-8"}


def register_error_handlers(app) -> None:
    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError):
        return _render(error.status_code, str(error.message))

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        if error.code == 400 and getattr(error, "description", "").startswith("The CSRF"):
            return _render(400, _("Your form expired. Please reload the page and try again."))
        # The exception's own headers matter (RFC 9110: a 405 names the allowed methods in Allow).
        headers = {name: value for name, value in error.get_headers() if name.lower() != "content-type"}
        return _render(error.code or 500, headers=headers)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        # Handling the exception here hides it from Sentry's Flask integration: report it ourselves.
        sentry_sdk.capture_exception(error)
        logger.exception("unhandled error on %s", request.endpoint)
        return _render(500)
