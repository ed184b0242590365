"""What the hotline announces to the floors above it, which connect to it (as Indico's modules do with signals).

The SLA domain stands above the hotline: it reads contacts and queues. The hotline must not import it
back, so it sends these signals; `app/sla/services.py::listen_to_hotline` connects the SLA rules, and
the application factory calls it once per application.

- `contact_offered`, sent with the new contact (not yet flushed) and `queue=`: the SLA rules record the
  policy that applies, the targets and the due times on the contact.
- `pause_ended`, sent with the contact, `paused_from=` and `paused_until=`: the contact stopped waiting
  on the patient; the SLA rules move its due times by the pause where its policy says so.
- `supervisor_page_shown`, sent with no sender while the supervisor page is rendered: each receiver
  returns a dict of template variables to add (the SLA rules: `alerts`, the recent SLA alerts).
- `contacts_shown`, sent with the list of contacts a page shows (one for a contact's page): each
  receiver returns a dict of template variables to add (the SLA rules: `sla_states`, each contact's
  SLA badge state by id).
- `patient_history_shown`, sent with the contact whose conversation is shown: each receiver returns a
  dict of lists of `app.hotline.conversation.HistoryEntry` (the campaigns: `campaign_messages`, the
  messages sent to this patient and their SMS replies), which the conversation merges by time. Only the
  current clinic's rows, and only the contact's own patient (by reference).
- `contact_claimed`, sent with the contact, `agent_id=` and `at=` once claim-next gave it to an agent, in
  the same transaction: the chat tells the patient that an agent joined.
- `contact_placed`, sent with the new contact (flushed, its `offered` event added) and `queue=`: the routing
  rules (app/routing) may move it at once (a closed queue's after-hours target).
- `contact_resolved`, sent with the contact, `actor_id=` and `at=` when it is resolved, in the same
  transaction: the chat ends the patient's chat session of that contact (app/chat/desk.py).
- `contact_assigned`, sent with the contact, `agent_id=`, `at=` and `how=` ("claim", "reassign", "answered")
  whenever a contact gets an agent, in the same transaction: the agent's state follows
  (app/hotline/agent_state_transitions.py: busy). The claim adds `busy_in=`, the clinic the agent is busy in
  (None: not busy), which it read, locked, in its own round trip (`agent_states.stay_busy`).
- `contact_left_agent`, sent with the contact, `agent_id=`, `at=`, `how=` ("resolved", "released",
  "transferred", "reassigned", or a routing rule's name) and `queue_id=` (the queue the agent held it in)
  whenever an agent loses a contact, after the contact's row has changed, in the same transaction: the
  agent's state follows (after-contact work, or available, once they hold no open contact in any clinic).
- `complaint_flagged`, sent with the contact, `actor_id=`, `reason=` and `at=` when an agent flags it as a
  complaint, in the same transaction: the complaint register (app/complaints) opens an entry linked to it.
"""

from blinker import Namespace

_signals = Namespace()

contact_offered = _signals.signal("contact-offered")
pause_ended = _signals.signal("contact-pause-ended")
supervisor_page_shown = _signals.signal("supervisor-page-shown")
contacts_shown = _signals.signal("contacts-shown")
patient_history_shown = _signals.signal("patient-history-shown")
contact_claimed = _signals.signal("contact-claimed")
contact_resolved = _signals.signal("contact-resolved")
contact_assigned = _signals.signal("contact-assigned")
contact_left_agent = _signals.signal("contact-left-agent")
contact_placed = _signals.signal("contact-placed")
complaint_flagged = _signals.signal("complaint-flagged")


def contributions(signal, sender=None) -> dict:
    """The template variables the receivers of `signal` return, merged (a later receiver wins a clash)."""
    merged = {}
    for _receiver, variables in signal.send(sender):
        merged.update(variables or {})
    return merged
