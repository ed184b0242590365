"""The score of a review (app/quality/scoring.py): weighted share of points, N/A left out, auto-fail makes 0."""

from decimal import Decimal

import pytest

from app.quality.models import Answer
from app.quality.scoring import MissingAnswer, Question, score

MET, NOT_MET, NA = Answer.MET, Answer.NOT_MET, Answer.NOT_APPLICABLE

QUESTIONS = [
    Question("q1", "Greeting", "Greets by name", 1),
    Question("q2", "Handling", "Answers the question", 3),
    Question("q3", "Handling", "Offers next steps", 2),
    Question("q4", "Safety", "Identity verified", 0, auto_fail=True),
]


def test_every_question_met_scores_100():
    result = score(QUESTIONS, {"q1": MET, "q2": MET, "q3": MET, "q4": MET})
    assert result.percent == Decimal("100.00") and (result.earned, result.possible) == (6, 6)
    assert not result.auto_failed


def test_weights_decide_the_share_not_the_number_of_questions():
    # 1 + 2 of 6 points: 50 %, although two of three weighted questions were met.
    assert score(QUESTIONS, {"q1": MET, "q2": NOT_MET, "q3": MET, "q4": MET}).percent == Decimal("50.00")
    # Only the heavy question met: 3 of 6.
    assert score(QUESTIONS, {"q1": NOT_MET, "q2": MET, "q3": NOT_MET, "q4": MET}).percent == Decimal("50.00")
    assert score(QUESTIONS, {"q1": NOT_MET, "q2": NOT_MET, "q3": MET, "q4": MET}).percent == Decimal("33.33")


def test_not_applicable_leaves_the_question_out_of_the_denominator():
    # q3 not applicable: 1 + 3 of 4 possible = 100 %, not 4 of 6.
    assert score(QUESTIONS, {"q1": MET, "q2": MET, "q3": NA, "q4": MET}).percent == Decimal("100.00")
    result = score(QUESTIONS, {"q1": NOT_MET, "q2": MET, "q3": NA, "q4": NA})
    assert (result.percent, result.earned, result.possible) == (Decimal("75.00"), 3, 4)


def test_rounding_is_half_up_to_two_decimals():
    questions = [Question("a", "S", "A", 1), Question("b", "S", "B", 1), Question("c", "S", "C", 1)]
    assert score(questions, {"a": MET, "b": MET, "c": NOT_MET}).percent == Decimal("66.67")
    # 1 of 32 points is 3.125 %: half up gives 3.13 (half to even would give 3.12).
    uneven = [Question("a", "S", "A", 1), Question("b", "S", "B", 31)]
    assert score(uneven, {"a": MET, "b": NOT_MET}).percent == Decimal("3.13")


def test_an_auto_fail_item_not_met_makes_the_whole_score_zero():
    result = score(QUESTIONS, {"q1": MET, "q2": MET, "q3": MET, "q4": NOT_MET})
    assert result.percent == Decimal("0.00") and result.auto_failed


def test_an_auto_fail_item_with_a_weight_counts_like_a_question_when_met():
    questions = [Question("a", "S", "A", 2), Question("b", "S", "Identity", 2, auto_fail=True)]
    assert score(questions, {"a": NOT_MET, "b": MET}).percent == Decimal("50.00")
    assert score(questions, {"a": MET, "b": NOT_MET}).percent == Decimal("0.00")


def test_auto_fail_wins_even_when_everything_else_is_not_applicable():
    result = score(QUESTIONS, {"q1": NA, "q2": NA, "q3": NA, "q4": NOT_MET})
    assert result.percent == Decimal("0.00") and result.auto_failed


def test_nothing_applicable_gives_no_score_rather_than_0_or_100():
    result = score(QUESTIONS, {"q1": NA, "q2": NA, "q3": NA, "q4": MET})
    assert result.percent is None and not result.auto_failed


def test_an_auto_fail_item_not_applicable_does_not_fail():
    assert score(QUESTIONS, {"q1": MET, "q2": MET, "q3": MET, "q4": NA}).percent == Decimal("100.00")


def test_every_question_needs_an_answer():
    with pytest.raises(MissingAnswer) as missing:
        score(QUESTIONS, {"q1": MET, "q2": MET, "q4": MET})
    assert missing.value.key == "q3"


def test_answers_to_unknown_keys_are_ignored_and_plain_values_accepted():
    result = score(QUESTIONS, {"q1": "met", "q2": "met", "q3": "na", "q4": "met", "q9": "not_met"})
    assert result.percent == Decimal("100.00")


def test_an_unknown_answer_value_is_refused():
    with pytest.raises(ValueError):
        score(QUESTIONS, {"q1": "maybe", "q2": MET, "q3": MET, "q4": MET})
