from wtforms import BooleanField, HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from app.billing.ledger import MAX_ADJUSTMENT
from app.billing.models import CURRENCIES
from app.billing.pricing import MAX_PRICE, RATE_SLOTS, slot_key
from app.forms import BoundedDecimalField, Form, LocaleDateField, choices
from app.i18n import _l


class PricePlanForm(Form):
    effective_from = LocaleDateField(_l("Takes effect on (first day of a month)"), validators=[InputRequired()])
    currency = SelectField(_l("Currency"), choices=choices((c, c) for c in CURRENCIES))
    base_fee = BoundedDecimalField(
        _l("Monthly base fee"), places=4, default=0, minimum=0, maximum=MAX_PRICE, validators=[InputRequired()]
    )

    def rate_fields(self):
        """(slot key, price field, included field) for every rate, in invoice order."""
        return [
            (
                slot_key(kind, channel),
                self[f"{slot_key(kind, channel)}_price"],
                self[f"{slot_key(kind, channel)}_included"],
            )
            for kind, channel in RATE_SLOTS
        ]

    def rates(self) -> dict[str, tuple]:
        return {key: (price.data, included.data) for key, price, included in self.rate_fields()}


for _kind, _channel in RATE_SLOTS:
    _key = slot_key(_kind, _channel)
    setattr(
        PricePlanForm,
        f"{_key}_price",
        BoundedDecimalField(
            _l("Unit price"), places=4, default=0, minimum=0, maximum=MAX_PRICE, validators=[InputRequired()]
        ),
    )
    setattr(
        PricePlanForm,
        f"{_key}_included",
        IntegerField(_l("Included per month"), default=0, validators=[Optional(), NumberRange(min=0, max=10_000_000)]),
    )


class AdjustmentForm(Form):
    amount = BoundedDecimalField(
        _l("Amount (negative for a credit)"),
        places=2,
        minimum=-MAX_ADJUSTMENT,
        maximum=MAX_ADJUSTMENT,
        validators=[InputRequired()],
    )
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=500)])
    confirm = BooleanField(
        _l("I confirm this adjustment: it cannot be edited or deleted afterwards."), validators=[DataRequired()]
    )
    request_key = HiddenField(validators=[DataRequired(), Length(min=16, max=64)])
