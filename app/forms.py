"""Form pieces shared by several domains."""

from wtforms import SelectMultipleField, widgets
from wtforms.fields.choices import SelectChoice


class CheckboxListField(SelectMultipleField):
    """A multiple choice shown as check boxes rather than a list box."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def attach_domain_error(form, error) -> bool:
    """Show a service's DomainError beside the field it names; False when no field matches."""
    field = getattr(form, error.field, None) if error.field else None
    if field is None:
        return False
    field.errors = [*field.errors, str(error.message)]
    return True


def choices(pairs) -> list[SelectChoice]:
    """Select options from (value, label) pairs, in the SelectChoice form WTForms 3.3+ expects."""
    return [SelectChoice(value, label) for value, label in pairs]
