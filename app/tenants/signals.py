"""What the clinics' registry announces to the floors above it, which connect to it once per application.

`tenants` is the lowest domain floor: it cannot ask the hotline, the SLA rules or billing whether a clinic
can work. It sends these signals and the floors above answer (as `app/hotline/signals.py` does for contacts).

- `readiness_checked`, sent with the clinic (`Tenant`) inside its tenant context, before it may go live and
  whenever its checklist is shown: each receiver returns a list of `ReadinessItem`, one per rule of its
  domain (`done` says whether it holds). The hotline answers for queues and agents
  (app/hotline/readiness.py), the SLA rules for policies (app/sla/readiness.py), billing for the price
  plan (app/billing/readiness.py).
- `configuration_copy_requested`, sent with the new clinic (`Tenant`, flushed, outside any tenant
  context) and `source_id=` (the clinic to copy) when "Start from an existing clinic" was chosen: the
  receiver (app/onboarding/copying.py) copies the source's configuration, never its data.
"""

from dataclasses import dataclass, field

from blinker import Namespace

_signals = Namespace()

readiness_checked = _signals.signal("readiness-checked")
configuration_copy_requested = _signals.signal("configuration-copy-requested")


@dataclass(frozen=True)
class ReadinessItem:
    """One thing a clinic needs before it goes live: what (a translated sentence), whether it holds, where to fix it.

    `label` says the rule ("Every language has a queue"); `problem` (when not done) says precisely what is
    missing ("No queue serves Polish."). `endpoint` is the page that fixes it, built with `url_for` inside the
    clinic (its `tenant_slug` is filled in by the tenant blueprint); `order` sorts the checklist like the
    onboarding steps.
    """

    key: str
    label: str
    done: bool
    endpoint: str
    problem: str = ""
    order: int = 100
    url_values: dict = field(default_factory=dict)
