"""The knowledge base's forms: an article, the search above the list, and a canned answer."""

from wtforms import SelectField, StringField, TextAreaField

from app.forms import Form, choices
from app.i18n import _l
from app.languages import language_choices as named_languages


def language_choices(languages) -> list:
    return choices(named_languages(languages))


class ArticleForm(Form):
    """An article's fields; their rules are the service's (knowledge/services.py), shown beside each field."""

    language = SelectField(_l("Language"), validate_choice=False)
    title = StringField(_l("Title"))
    body = TextAreaField(_l("Text"), render_kw={"rows": 12})

    def __init__(self, *args, languages=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.language.choices = language_choices(languages)


class ArticleSearchForm(Form):
    class Meta:
        csrf = False  # a GET search changes nothing

    q = StringField(_l("Search"))
    language = SelectField(_l("Language"), validate_choice=False)

    def __init__(self, *args, languages=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.language.choices = [("", _l("All languages")), *language_choices(languages)]


class AnswerForm(Form):
    """A canned answer's fields (a clinic's or a shared one); their rules are the service's (knowledge/answers.py)."""

    language = SelectField(_l("Language"), validate_choice=False)
    name = StringField(_l("Name"))
    body = TextAreaField(_l("Text"), render_kw={"rows": 10})

    def __init__(self, *args, languages=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.language.choices = language_choices(languages)
