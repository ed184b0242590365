from wtforms import RadioField, SelectField, StringField
from wtforms.validators import Length, Optional

from app.forms import CheckboxListField, Form, choices
from app.hotline.models import Channel
from app.i18n import _l


def _optional_id(value):
    return int(value) if value not in (None, "", "None") else None


class AddAgentsForm(Form):
    agents = CheckboxListField(_l("Agents to add"), coerce=int)
    team_id = SelectField(_l("Put them into the team"), coerce=_optional_id)
    new_team = StringField(_l("…or a new team named"), validators=[Optional(), Length(max=80)])

    def __init__(self, *args, candidates=(), teams=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.agents.choices = choices((c.user.id, c.user.name) for c in candidates)
        self.team_id.choices = choices([("", _l("No team")), *((t.id, t.name) for t in teams)])


class LanguageQueuesForm(Form):
    channels = CheckboxListField(
        _l("Channels"), choices=choices((c.value, c.label) for c in (Channel.PHONE, Channel.EMAIL, Channel.CHAT))
    )
    team_id = SelectField(_l("Team"), coerce=_optional_id)

    def __init__(self, *args, teams=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.team_id.choices = choices([("", _l("No team")), *((t.id, t.name) for t in teams)])


class SlaTemplateForm(Form):
    template = RadioField(_l("Template"))

    def __init__(self, *args, templates=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.template.choices = choices((t.key, t.label) for t in templates)


class PlanSourceForm(Form):
    source = SelectField(_l("Copy the price plan of"), coerce=_optional_id)

    def __init__(self, *args, sources=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.source.choices = choices((t.id, t.name) for t in sources)
