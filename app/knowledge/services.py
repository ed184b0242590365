"""Writing and searching a clinic's knowledge articles (inside the clinic's tenant context)."""

import re

from sqlalchemy import and_, case, func, literal, literal_column, or_, select
from sqlalchemy.dialects.postgresql import REGCONFIG

from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.i18n import _l
from app.input_rules import BadInput
from app.knowledge.models import KnowledgeArticle, search_config
from app.models import LIKE_ESCAPE, like_literal
from app.tenants.services import current_tenant

TITLE_MAX = 200
BODY_MAX = 20000
LIST_LIMIT = 100
MAX_QUERY_LENGTH = 200  # a title's length: what people type to find an article, not an article's text
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


def check_query(text: str | None) -> str:
    """The search text without surrounding spaces; BadInput naming `q` when it is longer than anyone types."""
    query = (text or "").strip()
    if len(query) > MAX_QUERY_LENGTH:
        raise BadInput(_l("Search with at most %(n)s characters.", n=MAX_QUERY_LENGTH), "q")
    return query


def search_articles(query: str, language: str | None = None, limit: int = 10) -> list[KnowledgeArticle]:
    """The clinic's articles matching `query`, best first.

    Full-text search in each article's own language's dictionary (so "Kliniken" finds "Klinik");
    one query per configuration, each against its languages only, so the GIN index serves every branch.
    When that finds nothing (a fragment, a word the dictionary does not know), articles containing the
    text are returned instead, most recently changed first. A query longer than `MAX_QUERY_LENGTH` is refused
    (BadInput): it never reaches the database.
    """
    query = check_query(query)
    if not query:
        return []
    languages = [language] if language else list(current_tenant().supported_locales)
    by_config: dict[str, list[str]] = {}
    for code in languages:
        by_config.setdefault(search_config(code), []).append(code)
    matches, ranks = [], []
    for config, codes in by_config.items():
        # A bound parameter of type regconfig, not CAST(varchar AS regconfig): the cast is only stable, so
        # PostgreSQL would compute the query once per row instead of once (5 ms against 35 ms over 4,000
        # articles, docs/benchmarks.md).
        tsquery = func.websearch_to_tsquery(literal(config, REGCONFIG), query)
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


# Suggestions: the words of a conversation, not a query someone typed.
_WORD = re.compile(r"\w{3,}")  # two letters are hardly ever what a text is about, and "or" is an operator
SUGGESTION_WORDS = 32  # the first words of the subject and message say what it is about
FALLBACK_WORDS = 6  # the longest words, searched as fragments when the dictionary matches none


def suggest_articles(text: str, language: str, limit: int = 3) -> list[KnowledgeArticle]:
    """The current clinic's articles in `language` that a conversation's `text` (subject and latest message)
    is most likely about, best first, at most `limit`.

    Any of the text's words matches, in `language`'s dictionary (stemmed, stop words left out), ranked by
    `ts_rank`, so the article sharing most and rarest words comes first. When no word matches, articles
    containing the longest words as fragments are suggested, those containing most of them first (the
    trigram index of migration 0020 serves it). Only the first words of a long text are used.
    """
    words = list(dict.fromkeys(word.casefold() for word in _WORD.findall(text or "")))[:SUGGESTION_WORDS]
    if not words:
        return []
    config = literal(search_config(language), REGCONFIG)  # a regconfig parameter, as in search_articles
    tsquery = func.websearch_to_tsquery(config, " or ".join(words))
    rank = func.ts_rank(KnowledgeArticle.search_vector, tsquery)
    found = list(
        db.session.scalars(
            select(KnowledgeArticle)
            .where(KnowledgeArticle.language == language, KnowledgeArticle.search_vector.op("@@")(tsquery))
            .order_by(rank.desc(), KnowledgeArticle.id)
            .limit(limit)
        )
    )
    if found:
        return found
    longest = sorted((w for w in words if len(w) >= 4), key=len, reverse=True)[:FALLBACK_WORDS]
    if not longest:
        return []
    contains = [SEARCHED_TEXT.ilike(f"%{like_literal(word)}%", escape=LIKE_ESCAPE) for word in longest]
    matched = sum((case((condition, 1), else_=0) for condition in contains), literal(0))
    return list(
        db.session.scalars(
            select(KnowledgeArticle)
            .where(KnowledgeArticle.language == language, or_(*contains))
            .order_by(matched.desc(), KnowledgeArticle.updated_at.desc(), KnowledgeArticle.id.desc())
            .limit(limit)
        )
    )
