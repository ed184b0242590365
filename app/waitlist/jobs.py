"""The waitlist's RQ jobs: thin, each calls one service inside its clinic (app/jobs.py)."""

from app.jobs import DEFAULT, OUTBOUND, queue_per_clinic, register_job, tenant_job
from app.models import utcnow
from app.tenants.models import TenantStatus
from app.tenants.services import clinic_ids
from app.waitlist import offers, webhook


@tenant_job(OUTBOUND, name="waitlist.offer_slot")
def offer_slot(tenant_id: int, slot_id: int) -> int:
    """The first wave of a freed slot, right after the cancellation committed."""
    return offers.send_wave(slot_id).offered


@tenant_job(OUTBOUND, name="waitlist.send_due_waves")
def send_due_waves(tenant_id: int) -> int:
    return offers.send_due_waves()


@tenant_job(OUTBOUND, name="waitlist.tell_slot_gone")
def tell_slot_gone(tenant_id: int, slot_id: int) -> int:
    return offers.tell_gone(slot_id)


@tenant_job(DEFAULT, name="waitlist.deliver_booking")
def deliver_booking(tenant_id: int, slot_id: int) -> bool:
    """Fails while the clinic's endpoint does not take the booking: RQ retries it with backoff."""
    return webhook.deliver_booking(slot_id)


@register_job("waitlist.schedule_waves", DEFAULT)
def schedule_waves() -> int:
    """Queue one pass per active clinic with a due wave or patients still to be told that a slot is gone;
    a clinic whose pass is still queued is skipped (deterministic job id, `unique`)."""
    # Active clinics only, as the campaigns: a suspended or offboarded clinic's patients are not messaged.
    active = set(clinic_ids((TenantStatus.ACTIVE,)))
    return queue_per_clinic(
        "waitlist.send_due_waves",
        [tenant_id for tenant_id in offers.clinics_with_due_work(utcnow()) if tenant_id in active],
        job_id=lambda tenant_id: f"waitlist-waves-{tenant_id}",
        failure_ttl=120,
    )
