"""Absolute links for what leaves the application: e-mails, SMS, webhook signatures.

A domain builds its own paths (`url_for` of its endpoints); this floor only makes them absolute, with
PUBLIC_BASE_URL: inside a job there is no request whose host could be used, and a request's host can be
forged.
"""

from flask import current_app


def public_url(path: str) -> str:
    """An absolute link for e-mails, SMS and webhook signatures: PUBLIC_BASE_URL + `path` ("/…")."""
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path
