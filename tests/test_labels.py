"""Labels live on the enums (app/labels.py): every member of every labelled enum has one, in the reader's language."""

import gc
import importlib
import pkgutil

import pytest
from flask_babel import force_locale
from flask_babel.speaklater import LazyString

import app as app_package
from app.i18n import _l
from app.labels import LabelledEnum, labelled_enums


def _every_labelled_enum() -> dict[str, type[LabelledEnum]]:
    # Every module of the application, so that no enum escapes because nothing imported it yet.
    for module in pkgutil.walk_packages(app_package.__path__, "app."):
        importlib.import_module(module.name)
    return labelled_enums()


ENUMS = _every_labelled_enum()


def test_the_walk_finds_the_labelled_enums_of_every_domain():
    for name in ("Channel", "Disposition", "MessageStatus", "InvoiceStatus", "TenantRole", "GdprRequestKind"):
        assert name in ENUMS, name
    assert len(ENUMS) >= 24


@pytest.mark.parametrize("name", sorted(ENUMS))
def test_every_member_has_a_lazy_label_and_no_label_is_left_over(app, name):
    enum = ENUMS[name]
    for member in enum:
        assert isinstance(member.label, LazyString), member  # lazy: it follows the locale it is rendered in
        with app.test_request_context(), force_locale("en"):
            assert str(member.label).strip(), member
    assert set(enum.__labels__) == {member.value for member in enum}, "a label for a value that is no member"


def _forget(enum_name: str) -> None:
    """Let a test's own enum go, so that it never reaches the template globals of a later create_app."""
    gc.collect()
    assert labelled_enums().get(enum_name) is ENUMS.get(enum_name)


def test_a_member_without_a_label_has_none():
    class Forgetful(LabelledEnum):
        KNOWN = "known"
        FORGOTTEN = "forgotten"

        __labels__ = {KNOWN: _l("Known")}

    assert [member.name for member in Forgetful] == ["KNOWN", "FORGOTTEN"]  # a dunder attribute is no member
    with pytest.raises(KeyError):
        str(Forgetful.FORGOTTEN.label)
    del Forgetful
    _forget("Forgetful")


def test_labels_follow_the_readers_language(app):
    from app.hotline.models import ContactStatus

    with app.test_request_context():
        with force_locale("en"):
            english = str(ContactStatus.ASSIGNED.label)
        with force_locale("de"):
            german = str(ContactStatus.ASSIGNED.label)
    assert english == "In progress" and german not in ("", english)


def test_a_raw_stored_value_gets_its_label_and_an_unknown_one_stays_as_it_is(app):
    from app.campaigns.models import FailureReason
    from app.hotline.models import Disposition

    with app.test_request_context(), force_locale("en"):
        assert str(Disposition.label_of("answered")) == "Question answered"
        assert FailureReason.label_of("the provider's own words") == "the provider's own words"
        assert Disposition.member_of("answered") is Disposition.ANSWERED and Disposition.member_of(None) is None


def test_every_labelled_enum_is_a_template_global_under_its_name(app):
    for name, enum in ENUMS.items():
        assert app.jinja_env.globals[name] is enum, name
    with app.test_request_context(), force_locale("en"):
        rendered = app.jinja_env.from_string(
            "{{ Disposition.label_of(value) }} / {% for s in TenantStatus %}{{ s.label }} {% endfor %}"
        ).render(value="forwarded_to_clinic")
    assert rendered == "Forwarded to the clinic / Draft Active Suspended Offboarded "


def test_two_labelled_enums_of_one_name_are_refused():
    class Channel(LabelledEnum):  # the hotline's Channel exists already
        ONLY = "only"

        __labels__ = {ONLY: _l("Only")}

    with pytest.raises(RuntimeError, match="Two labelled enums are called Channel"):
        labelled_enums()
    del Channel
    _forget("Channel")


def test_every_invoice_line_a_plan_can_have_is_labelled():
    from app.billing.models import InvoiceLineKey
    from app.billing.pricing import RATE_SLOTS, slot_key

    keys = {slot_key(kind, channel) for kind, channel in RATE_SLOTS} | {"base_fee", "adjustment", "sla_credit"}
    assert keys == {member.value for member in InvoiceLineKey}
