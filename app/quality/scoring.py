"""The score of a review: one pure function, no database.

The rule:
- Each question has a whole weight. "Met" earns its weight, "not met" earns nothing, "not applicable"
  leaves the question out of the count altogether (neither earned nor possible).
- The score is earned ÷ possible × 100, rounded half up to two decimals.
- An auto-fail item answered "not met" makes the whole score 0, whatever else was met (a contact where
  the patient's identity was not verified fails). Auto-fail items otherwise count like any question,
  with their own weight (0: they only guard).
- Nothing possible (every weighted question not applicable) gives no score (None), never 0 or 100.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from app.quality.models import Answer

HUNDREDTH = Decimal("0.01")


@dataclass(frozen=True)
class Question:
    key: str
    section: str
    text: str
    weight: int
    auto_fail: bool = False

    @classmethod
    def from_stored(cls, stored: Mapping) -> "Question":
        return cls(
            key=str(stored["key"]),
            section=str(stored["section"]),
            text=str(stored["text"]),
            weight=int(stored["weight"]),
            auto_fail=bool(stored.get("auto_fail", False)),
        )

    def stored(self) -> dict:
        return {
            "key": self.key,
            "section": self.section,
            "text": self.text,
            "weight": self.weight,
            "auto_fail": self.auto_fail,
        }


@dataclass(frozen=True)
class Score:
    percent: Decimal | None  # None: nothing was applicable
    earned: int
    possible: int
    auto_failed: bool


class MissingAnswer(ValueError):
    """A question of the scorecard has no answer (the service turns it into the form's error)."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def score(questions: Sequence[Question], answers: Mapping[str, Answer | str]) -> Score:
    """The weighted score of `answers` (question key → Answer) to `questions`; see the module's rule.

    Every question needs an answer (MissingAnswer otherwise); answers to keys that are no question's are ignored.
    """
    earned = possible = 0
    auto_failed = False
    for question in questions:
        if question.key not in answers:
            raise MissingAnswer(question.key)
        answer = Answer(answers[question.key])
        if answer == Answer.NOT_APPLICABLE:
            continue
        possible += question.weight
        if answer == Answer.MET:
            earned += question.weight
        elif question.auto_fail:
            auto_failed = True
    if auto_failed:
        return Score(Decimal("0.00"), earned, possible, True)
    if possible == 0:
        return Score(None, earned, possible, False)
    percent = (Decimal(earned) * 100 / Decimal(possible)).quantize(HUNDREDTH, rounding=ROUND_HALF_UP)
    return Score(percent, earned, possible, False)
