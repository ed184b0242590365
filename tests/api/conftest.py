"""API test helpers: tokens issued the way the settings page issues them, and a bearer-token client."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from app.auth.models import ApiScope
from app.auth.tokens import issue_api_token
from app.extensions import db
from app.tenancy import tenant_context


class ApiClient:
    """The test client with `Authorization: Bearer <secret>` on every request (or none)."""

    def __init__(self, client, secret: str | None):
        self.client = client
        self.secret = secret

    def _headers(self, headers: dict | None) -> dict:
        merged = {"Authorization": f"Bearer {self.secret}"} if self.secret else {}
        merged.update(headers or {})
        return merged

    def get(self, url, *, headers=None, **kwargs):
        return self.client.get(url, headers=self._headers(headers), **kwargs)

    def post(self, url, json=None, *, headers=None, **kwargs):
        return self.client.post(url, json=json, headers=self._headers(headers), **kwargs)


@pytest.fixture
def issue_token(app):
    def _issue(
        tenant_id: int, created_by: int | None = None, name: str = "Practice system", scopes=(ApiScope.HOTLINE,)
    ) -> str:
        with app.app_context(), tenant_context(tenant_id):
            _token, secret = issue_api_token(name, created_by, scopes)
            db.session.commit()
            return secret

    return _issue


@pytest.fixture
def api_client(app, issue_token):
    """`api_client(tenant_id)`: a client holding a fresh token of that clinic; `api_client(None)`: no token."""

    def _client(tenant_id: int | None) -> ApiClient:
        return ApiClient(app.test_client(), issue_token(tenant_id) if tenant_id is not None else None)

    return _client


@pytest.fixture
def count_rows(owner_engine):
    """Rows of a table for one clinic, counted as the table owner (no tenant scoping, no RLS)."""

    def _count(table: str, tenant_id: int) -> int:
        assert table.isidentifier()
        with owner_engine.connect() as conn:
            return conn.execute(
                text(f"SELECT count(*) FROM {table} WHERE tenant_id = :tenant"),  # noqa: S608
                {"tenant": tenant_id},
            ).scalar_one()

    return _count


def iso(seconds_ago: float) -> str:
    """An ISO 8601 timestamp with offset, `seconds_ago` seconds before now."""
    return (datetime.now(UTC) - timedelta(seconds=seconds_ago)).isoformat()
