"""Writing and searching a clinic's knowledge articles (inside the clinic's tenant context)."""

from sqlalchemy import and_, case, cast, func, literal, literal_column, or_, select
from sqlalchemy.dialects.postgresql import REGCONFIG

from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.i18n import _l
from app.knowledge.models import KnowledgeArticle, search_config
from app.models import LIKE_ESCAPE, like_literal
from app.tenants.services import current_tenant

TITLE_MAX = 200
BODY_MAX = 20000
LIST_LIMIT = 100
# Spelled exactly as the trigram index of migration 0020 (a bound ' ' would not match its expression).
SEARCHED_TEXT = KnowledgeArticle.title.concat(literal_column("' '")).concat(KnowledgeArticle.body)


def articles(language: str | None = None, limit: int = LIST_LIMIT) -> list[KnowledgeArticle]:
    """The clinic's articles, most recently changed first, at most `limit`."""
    statement = select(KnowledgeArticle).order_by(KnowledgeArticle.updated_at.desc(), KnowledgeArticle.id.desc())
    if language:
        statement = statement.where(KnowledgeArticle.language == language)
    return list(db.session.scalars(statement.limit(limit)))


def get_article(article_id: int) -> KnowledgeArticle:
    article = db.session.scalar(select(KnowledgeArticle).where(KnowledgeArticle.id == article_id))
    if article is None:
        raise NotFound(_l("This article does not exist."))
    return article


def _checked(language: str, title: str, body: str, article_id: int | None) -> tuple[str, str, str]:
    """The article's fields, trimmed, or a DomainError naming the field at fault."""
    title, body = (title or "").strip(), (body or "").strip()
    if language not in current_tenant().supported_locales:
        raise DomainError(_l("Choose one of the clinic's languages."), field="language")
    if not 1 <= len(title) <= TITLE_MAX:
        raise DomainError(_l("A title has 1 to %(max)s characters.", max=TITLE_MAX), field="title")
    if not 1 <= len(body) <= BODY_MAX:
        raise DomainError(_l("The text has 1 to %(max)s characters.", max=BODY_MAX), field="body")
    same_title = select(KnowledgeArticle.id).where(
        KnowledgeArticle.language == language, KnowledgeArticle.title == title
    )
    if article_id is not None:
        same_title = same_title.where(KnowledgeArticle.id != article_id)
    if db.session.scalar(same_title.limit(1)) is not None:
        raise Conflict(_l("An article with this title exists in this language."), field="title")
    return language, title, body


def create_article(*, language: str, title: str, body: str, author_id: int | None) -> KnowledgeArticle:
    """Write a new article in one of the clinic's languages."""
    language, title, body = _checked(language, title, body, None)
    article = KnowledgeArticle(language=language, title=title, body=body, author_id=author_id)
    db.session.add(article)
    db.session.flush()
    return article


def update_article(article_id: int, *, language: str, title: str, body: str) -> KnowledgeArticle:
    """Change an article; its search vector follows (PostgreSQL regenerates it)."""
    article = get_article(article_id)
    article.language, article.title, article.body = _checked(language, title, body, article.id)
    db.session.flush()
    return article


def delete_article(article_id: int) -> None:
    db.session.delete(get_article(article_id))


def search_articles(query: str, language: str | None = None, limit: int = 10) -> list[KnowledgeArticle]:
    """The clinic's articles matching `query`, best first.

    Full-text search in each article's own language's dictionary (so "Kliniken" finds "Klinik");
    one query per configuration, each against its languages only, so the GIN index serves every branch.
    When that finds nothing (a fragment, a word the dictionary does not know), articles containing the
    text are returned instead, most recently changed first.
    """
    query = (query or "").strip()
    if not query:
        return []
    languages = [language] if language else list(current_tenant().supported_locales)
    by_config: dict[str, list[str]] = {}
    for code in languages:
        by_config.setdefault(search_config(code), []).append(code)
    matches, ranks = [], []
    for config, codes in by_config.items():
        tsquery = func.websearch_to_tsquery(cast(literal(config), REGCONFIG), query)
        in_languages = KnowledgeArticle.language.in_(codes)
        matches.append(and_(in_languages, KnowledgeArticle.search_vector.op("@@")(tsquery)))
        ranks.append((in_languages, func.ts_rank(KnowledgeArticle.search_vector, tsquery)))
    found = list(
        db.session.scalars(
            select(KnowledgeArticle)
            .where(or_(*matches))
            .order_by(case(*ranks, else_=0).desc(), KnowledgeArticle.id)
            .limit(limit)
        )
    )
    if found:
        return found
    # Matches the trigram index of migration 0020 where pg_trgm exists.
    pattern = f"%{like_literal(query)}%"
    return list(
        db.session.scalars(
            select(KnowledgeArticle)
            .where(
                KnowledgeArticle.language.in_(languages),
                SEARCHED_TEXT.ilike(pattern, escape=LIKE_ESCAPE),
            )
            .order_by(KnowledgeArticle.updated_at.desc(), KnowledgeArticle.id.desc())
            .limit(limit)
        )
    )
