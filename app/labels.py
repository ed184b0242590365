"""Enums a person reads (a status, a channel, a kind) carry their own labels, in the reader's language.

The labels of an enum are declared inside its class, after its members, as `__labels__`; a dunder
name is never a member (the pattern of Indico's `RichEnum.__titles__`):

    class Channel(LabelledEnum):
        PHONE = "phone"
        EMAIL = "email"
        __labels__ = {PHONE: _l("Phone"), EMAIL: _l("E-mail")}

Inside the class body a member's name still stands for its plain value, so the dict is keyed by values.
Every domain then shows any domain's enum by `member.label`, and a raw stored value (a column that is a
plain string, a SQL row, an export document) by `Enum.label_of(value)`, in Python and in templates alike
(every labelled enum is a template global under its class name). No domain keeps labels of another's.
"""

import enum


class LabelledEnum(enum.StrEnum):
    """A StrEnum whose every member has a lazy translated `label` (tests/test_labels.py checks every one)."""

    __labels__: dict  # value → lazy label (`_l`), declared by each enum

    @property
    def label(self):
        """This member's label: lazy, so it follows the locale it is rendered in (forced or the reader's)."""
        return type(self).__labels__[self._value_]

    @classmethod
    def member_of(cls, value):
        """The member whose value this is, or None (a value written before a code existed, a provider's words)."""
        return cls._value2member_map_.get(value)

    @classmethod
    def label_of(cls, value):
        """The label of a raw stored value; a value that is no member's is shown as it is."""
        member = cls.member_of(value)
        return value if member is None else member.label


def labelled_enums() -> dict[str, type[LabelledEnum]]:
    """Every labelled enum defined so far, by class name (the template globals; names are unique)."""
    found: dict[str, type[LabelledEnum]] = {}
    pending = list(LabelledEnum.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__name__ in found and found[cls.__name__] is not cls:
            raise RuntimeError(f"Two labelled enums are called {cls.__name__}: templates could not tell them apart")
        found[cls.__name__] = cls
    return found
