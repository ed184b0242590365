"""Finding a clinic's contacts by what the caller knows: the patient's reference, e-mail address or phone
number, or words of the subject.

Every query matches references that start with it and subjects that contain it. A query that is an
e-mail address also matches the contacts with a message from that address (stored lower-case) and the
contacts of the clinic's patient with that address; a query that is a phone number (read in the clinic's
country, compared in E.164) matches the contacts of the clinic's patient with that number. Contacts name
their patient by reference only, so a patient's address or number leads to contacts through the
patient's reference.

The search runs in the current clinic only: the ORM scopes every statement on `Contact`, `ContactMessage`
and `Patient` to it (app/tenancy.py) and row-level security does again in the database; the explicit
`tenant_id` conditions also let the planner walk `ix_contacts_tenant_id_offered_at` newest first and
`ix_contact_messages_tenant_id_from_address`.
"""

import re
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, or_, select

from app.extensions import db
from app.hotline.models import Contact, ContactMessage, MessageDirection
from app.i18n import _l
from app.input_rules import BadInput, page_count
from app.models import LIKE_ESCAPE, like_literal
from app.patients.models import Patient
from app.tenancy import current_tenant_id
from app.tenants.services import current_tenant

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


# What may be a phone number: digits with the separators people type, an optional leading "+".
_PHONE_LIKE = re.compile(r"^\+?[0-9(][0-9 ()./-]{4,30}$")


def email_in(query: str) -> str | None:
    """The query as a stored e-mail address (valid, lower-case) when it is one, else None."""
    if "@" not in query:
        return None
    try:
        return validate_email(query, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


def phone_in(query: str, country_code: str) -> str | None:
    """The query as an E.164 number when it is a valid phone number (national numbers read in
    `country_code`, the clinic's country), else None."""
    if not _PHONE_LIKE.match(query):
        return None
    try:
        number = phonenumbers.parse(query, country_code)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _references_of_patients(condition):
    return select(Patient.reference).where(Patient.tenant_id == current_tenant_id(), condition)


def search_contacts(query: str, page: int = 1, *, per_page: int = PER_PAGE) -> ContactSearchPage:
    """The current clinic's contacts whose patient reference starts with `query` or whose subject contains
    it, ignoring case, or, when the query is an e-mail address or a phone number, the contacts of that
    sender or patient (see the module's docstring); newest offer first, one page of them. The query is
    checked with `check_query`; it reaches the database only as bound parameters."""
    text = check_query(query)
    literal = like_literal(text)
    conditions = [
        Contact.patient_ref.ilike(literal + "%", escape=LIKE_ESCAPE),
        Contact.subject.ilike("%" + literal + "%", escape=LIKE_ESCAPE),
    ]
    tenant_id = current_tenant_id()
    email = email_in(text)
    if email is not None:
        senders = select(ContactMessage.contact_id).where(
            ContactMessage.tenant_id == tenant_id,
            ContactMessage.from_address == email,
            ContactMessage.direction == MessageDirection.INBOUND,
        )
        conditions.append(Contact.id.in_(senders))
        conditions.append(Contact.patient_ref.in_(_references_of_patients(func.lower(Patient.email) == email)))
    phone = phone_in(text, current_tenant().country_code)
    if phone is not None:
        conditions.append(Contact.patient_ref.in_(_references_of_patients(Patient.phone == phone)))
    found = select(Contact).where(Contact.tenant_id == tenant_id, or_(*conditions))
    total = db.session.scalar(select(func.count()).select_from(found.subquery()))
    rows = db.session.scalars(
        found.order_by(Contact.offered_at.desc(), Contact.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return ContactSearchPage(contacts=list(rows), total=total, page=page, pages=page_count(total, per_page))
