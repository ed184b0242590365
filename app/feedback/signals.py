"""What the feedback domain announces to the floors above it (as app/hotline/signals.py does for the hotline).

- `low_score_recorded`, sent with the new `ContactSurveyAnswer` (flushed) and `contact_id=` (the surveyed
  contact) when a patient's score is at or below its queue's low-score threshold, in the same transaction,
  after the recovery callback was offered: QA sampling takes every low score (issue 20).
"""

from blinker import Namespace

_signals = Namespace()

low_score_recorded = _signals.signal("feedback-low-score-recorded")
