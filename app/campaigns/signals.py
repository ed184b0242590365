"""What the campaigns announce to the floors above them (as app/hotline/signals.py does for the hotline).

- `sms_yes_received`, sent with the patient who answered an SMS with a yes word (`YES`, `ja`, `tak` …; never a
  bare digit: "1" may be a survey's lowest score or a reminder's confirmation) and
  `moment=`, before the answer is read as a reminder's confirmation, inside the patient's language: a receiver
  that takes the answer returns the text to send back (the waitlist: a slot it offered them, booked or gone);
  the first such text wins and the reminders do not see the answer. Receivers that do not take it return None.
"""

from blinker import Namespace

_signals = Namespace()

sms_yes_received = _signals.signal("sms-yes-received")


def first_answer(signal, sender, **kwargs) -> str | None:
    """The first non-empty text a receiver of `signal` returns; None when none took it."""
    for _receiver, answer in signal.send(sender, **kwargs):
        if answer:
            return answer
    return None
