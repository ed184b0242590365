"""Whether a clinic has a price plan, answered to the clinics' registry before it goes live
(`app/tenants/signals.py::readiness_checked`): without one its usage would be billed at nothing."""

from app.billing.pricing import plans
from app.i18n import _l
from app.tenants.signals import ReadinessItem, readiness_checked


def listen_to_tenants() -> None:
    """Connect billing's answer to `readiness_checked`; connecting again changes nothing."""
    readiness_checked.connect(billing_readiness)


def billing_readiness(_tenant) -> list[ReadinessItem]:
    return [
        ReadinessItem(
            key="price_plan",
            label=str(_l("A price plan exists")),
            done=bool(plans()),
            endpoint="billing.plans",
            problem=str(_l("Set up the clinic's price plan.")),
            order=60,
        )
    ]
