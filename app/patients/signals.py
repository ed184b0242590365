"""What the patients floor announces to the floors above it (as app/hotline/signals.py does for the hotline).

- `appointment_cancelled`, sent with the appointment (its status already CANCELLED, flushed) and `at=`, in the
  transaction that cancelled it, whoever did (the clinic's page, the API, the patient's SMS or link): the
  waitlist (app/waitlist/services.py::listen_to_cancellations) opens the freed slot and offers it.
"""

from blinker import Namespace

_signals = Namespace()

appointment_cancelled = _signals.signal("appointment-cancelled")
