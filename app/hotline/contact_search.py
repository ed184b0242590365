"""Finding a clinic's contacts by what the caller knows: the patient's reference or words of the subject.

The contacts table holds no e-mail address or phone number of the patient (only `patient_ref` and
`subject` describe who called and why), so those two columns are what is searched. The search runs in
the current clinic only: the ORM scopes every statement on `Contact` to it (app/tenancy.py) and
row-level security does again in the database; the explicit `tenant_id` condition also lets the
planner walk `ix_contacts_tenant_id_offered_at` newest first.
"""

from dataclasses import dataclass

from sqlalchemy import func, or_, select

from app.extensions import db
from app.hotline.models import Contact
from app.i18n import _l
from app.input_rules import BadInput, page_count
from app.models import LIKE_ESCAPE, like_literal
from app.tenancy import current_tenant_id

MIN_QUERY_LENGTH = 2  # one character would list nearly every contact of the clinic
MAX_QUERY_LENGTH = 200  # the subject column's length: no longer text can match
PER_PAGE = 25


@dataclass(frozen=True)
class ContactSearchPage:
    contacts: list[Contact]
    total: int
    page: int
    pages: int


def query_too_short_message():
    return _l("Enter at least %(n)s characters to search.", n=MIN_QUERY_LENGTH)


def check_query(text: str) -> str:
    """The query without surrounding spaces; BadInput when it is too short or too long to search with."""
    query = text.strip()
    if len(query) > MAX_QUERY_LENGTH:
        raise BadInput(_l("Search with at most %(n)s characters.", n=MAX_QUERY_LENGTH), "q")
    if len(query) < MIN_QUERY_LENGTH:
        raise BadInput(query_too_short_message(), "q")
    return query


def search_contacts(query: str, page: int = 1, *, per_page: int = PER_PAGE) -> ContactSearchPage:
    """The current clinic's contacts whose patient reference starts with `query` or whose subject contains
    it, ignoring case, newest offer first, one page of them. The query is checked with `check_query`;
    it reaches the database only as a bound parameter."""
    literal = like_literal(check_query(query))
    matches = or_(
        Contact.patient_ref.ilike(literal + "%", escape=LIKE_ESCAPE),
        Contact.subject.ilike("%" + literal + "%", escape=LIKE_ESCAPE),
    )
    found = select(Contact).where(Contact.tenant_id == current_tenant_id(), matches)
    total = db.session.scalar(select(func.count()).select_from(found.subquery()))
    rows = db.session.scalars(
        found.order_by(Contact.offered_at.desc(), Contact.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return ContactSearchPage(contacts=list(rows), total=total, page=page, pages=page_count(total, per_page))
