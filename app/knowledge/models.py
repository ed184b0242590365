"""Knowledge articles: what agents look up while answering (services, directions, preparation, insurance)."""

from sqlalchemy import Computed, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models import TenantScoped, TimestampMixin

# PostgreSQL's text-search configuration per article language; it has none for Polish, and any
# language without one is matched word for word ('simple'). Migration 0020 spells the same mapping in SQL.
SEARCH_CONFIGS = {"de": "german", "en": "english", "fr": "french", "es": "spanish"}
FALLBACK_CONFIG = "simple"


def search_config(language: str) -> str:
    """The text-search configuration an article in `language` is indexed with."""
    return SEARCH_CONFIGS.get(language, FALLBACK_CONFIG)


def _config_sql(column: str) -> str:
    cases = " ".join(f"WHEN '{code}' THEN '{config}'::regconfig" for code, config in SEARCH_CONFIGS.items())
    return f"CASE {column} {cases} ELSE '{FALLBACK_CONFIG}'::regconfig END"


SEARCH_VECTOR_SQL = f"to_tsvector({_config_sql('language')}, title || ' ' || body)"


class KnowledgeArticle(TenantScoped, TimestampMixin, db.Model):
    """One article in one language; the same subject in another language is another article."""

    __tablename__ = "knowledge_articles"
    __tenant_id_index__ = False  # every index below starts with tenant_id
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "language", "title"),
        Index("ix_knowledge_articles_search_vector", "search_vector", postgresql_using="gin"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    language: Mapped[str] = mapped_column(String(5), nullable=False)  # an ISO 639-1 code from the clinic's
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Written by PostgreSQL from the title and body, in the article's language's dictionary.
    search_vector = mapped_column(TSVECTOR, Computed(SEARCH_VECTOR_SQL, persisted=True), nullable=False)


class SharedAnswer(TimestampMixin, db.Model):
    """A canned answer the provider offers every clinic, one row per language. A platform table: written on
    the provider console; a clinic's own answer of the same name and language replaces it for that clinic."""

    __tablename__ = "shared_answers"
    __table_args__ = (UniqueConstraint("name", "language"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    language: Mapped[str] = mapped_column(String(5), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)


class CannedResponse(TenantScoped, TimestampMixin, db.Model):
    """A clinic's canned answer in one language; the versions of one answer share its name."""

    __tablename__ = "canned_responses"
    __audit_name__ = "canned_response"  # changes are recorded in the audit trail (app/audit)
    __tenant_id_index__ = False  # the unique constraint's index starts with tenant_id
    __table_args__ = (UniqueConstraint("tenant_id", "name", "language"), UniqueConstraint("tenant_id", "id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    language: Mapped[str] = mapped_column(String(5), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
