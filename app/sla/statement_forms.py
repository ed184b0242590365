"""Forms of SLA contracts (a new version), exclusions, and a statement's dispute and its resolution."""

from datetime import date

from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from app.forms import BoundedDecimalField, CheckboxListField, Form, LocaleDateTimeField, choices
from app.i18n import _l
from app.sla.contract_models import CreditMode, DisputeOutcome
from app.sla.contracts import METRICS
from app.sla.models import ServiceLevelConvention

TIERS = (1, 2)


class ContractForm(Form):
    """A new contract version; one block per metric (the `<key>_…` fields added below the class)."""

    effective_from = StringField(
        _l("Applies from the month"), validators=[DataRequired()], render_kw={"type": "month", "placeholder": "2026-04"}
    )
    credit_mode = SelectField(_l("How credits add up"), choices=choices((m.value, m.label) for m in CreditMode))
    cap_percent = BoundedDecimalField(
        _l("Cap: at most this share of the month's fee (%)"),
        places=2,
        minimum="0.01",
        maximum=100,
        default=15,
        validators=[InputRequired()],
    )
    exclude_closures = BooleanField(_l("Leave out contacts of the clinic's closure days"), default=True)
    queues = CheckboxListField(
        _l("Queue group (service level, ASA, abandonment; none ticked: every phone and chat queue)"), coerce=int
    )
    service_level_convention = SelectField(
        _l("Service level convention"), choices=choices((c.value, c.label) for c in ServiceLevelConvention)
    )

    def month(self) -> date | None:
        try:
            year, month = (int(part) for part in (self.effective_from.data or "").split("-"))
            return date(year, month, 1)
        except ValueError:
            return None

    def terms(self) -> dict:
        metrics = []
        for kind in METRICS:
            if not getattr(self, f"{kind.key}_enabled").data:
                continue
            tiers = []
            for tier in TIERS:
                threshold = getattr(self, f"{kind.key}_tier{tier}_threshold").data
                percent = getattr(self, f"{kind.key}_tier{tier}_percent").data
                if threshold is not None or percent is not None:
                    tiers.append(["" if threshold is None else threshold, "" if percent is None else percent])
            entry = {"key": kind.key, "target": getattr(self, f"{kind.key}_target").data or "", "tiers": tiers}
            if kind.grouped:
                entry["queue_ids"] = list(self.queues.data or [])
            if kind.key == "service_level":
                entry["convention"] = self.service_level_convention.data
            metrics.append(entry)
        return {"exclude_closures": self.exclude_closures.data, "metrics": metrics}


for _kind in METRICS:
    _unit = "%" if _kind.unit == "%" else "s"
    setattr(ContractForm, f"{_kind.key}_enabled", BooleanField(_kind.label))
    setattr(
        ContractForm,
        f"{_kind.key}_target",
        BoundedDecimalField(
            _l("Target (%(unit)s)", unit=_unit), places=2, minimum=0, maximum=_kind.maximum, validators=[Optional()]
        ),
    )
    for _tier in TIERS:
        setattr(
            ContractForm,
            f"{_kind.key}_tier{_tier}_threshold",
            BoundedDecimalField(
                _l("Tier %(n)s: from (%(unit)s)", n=_tier, unit=_unit),
                places=2,
                minimum=0,
                maximum=_kind.maximum,
                validators=[Optional()],
            ),
        )
        setattr(
            ContractForm,
            f"{_kind.key}_tier{_tier}_percent",
            BoundedDecimalField(
                _l("Tier %(n)s: credit (%% of the fee)", n=_tier),
                places=2,
                minimum=0,
                maximum=100,
                validators=[Optional()],
            ),
        )


class IncidentForm(Form):
    starts_at = LocaleDateTimeField(_l("Started (clinic time)"), validators=[InputRequired()])
    ends_at = LocaleDateTimeField(_l("Ended (clinic time)"), validators=[InputRequired()])
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=500)])


class ExcludedContactForm(Form):
    contact_id = IntegerField(_l("Contact number"), validators=[InputRequired(), NumberRange(1, 2**31 - 1)])
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=500)])


class DisputeForm(Form):
    """One reason per metric; the statement's own metrics are shown, the others stay empty."""


for _kind in METRICS:
    setattr(
        DisputeForm,
        f"reason_{_kind.key}",
        TextAreaField(_kind.label, validators=[Optional(), Length(max=1000)]),
    )


class ResolveForm(Form):
    outcome = SelectField(_l("Decision"), choices=choices((o.value, o.label) for o in DisputeOutcome))
    resolution = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=1000)])
    credit = BoundedDecimalField(
        _l("Credit after the adjustment"), places=2, minimum=0, maximum=1000000, validators=[Optional()]
    )
