"""Saving a queue's rules: ranges, targets of the same clinic, and no rule set that could loop a contact."""

import pytest

from app.errors import DomainError
from app.extensions import db
from app.routing import services
from app.routing.models import EscalateOn
from app.routing.services import RuleValues, find_loop
from app.tenancy import tenant_context


@pytest.mark.parametrize(
    ("edges", "loop"),
    [
        ({1: [2], 2: [3]}, None),
        ({1: [2], 2: [1]}, [1, 2, 1]),
        ({1: [2, 3], 3: [4], 4: [3]}, [3, 4, 3]),
        ({1: [2], 2: [3], 3: [1]}, [1, 2, 3, 1]),
    ],
)
def test_find_loop_names_the_queues_of_a_circle(edges, loop):
    assert find_loop(edges) == loop


def test_a_rule_that_closes_a_loop_is_refused_naming_the_queues(app, two_tenants, create_queue, set_rules):
    a = two_tenants.a
    first, second, third = (create_queue(a.id, name) for name in ("First", "Second", "Third"))
    set_rules(a.id, first, overflow_after_seconds=60, overflow_queue_id=second)
    set_rules(a.id, second, escalate_on=EscalateOn.BREACH, escalation_queue_id=third)
    with app.app_context(), tenant_context(a.id):
        with pytest.raises(DomainError) as refused:
            services.save_rules(third, RuleValues(after_hours_queue_id=first))
        db.session.rollback()
        assert refused.value.field == "after_hours_queue_id"
        assert "First → Second → Third → First" in str(refused.value.message)
        # A chain that does not come back is fine.
        services.save_rules(third, RuleValues(offer_timeout_seconds=30))
        db.session.commit()


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"offer_timeout_seconds": 5}, "offer_timeout_seconds"),
        ({"away_after_misses": 0}, "away_after_misses"),
        ({"overflow_after_seconds": 90000, "overflow_queue_id": "other"}, "overflow_after_seconds"),
        ({"overflow_after_seconds": 60}, "overflow_queue_id"),
        ({"overflow_queue_id": "other"}, "overflow_after_seconds"),
        ({"after_hours_queue_id": "self"}, "after_hours_queue_id"),
        ({"escalation_queue_id": "other"}, "escalate_on"),
        ({"escalate_on": EscalateOn.WARNING, "escalation_queue_id": "foreign"}, "escalation_queue_id"),
    ],
)
def test_rules_out_of_range_or_with_a_wrong_target_are_refused(app, two_tenants, create_queue, values, field):
    a, b = two_tenants.a, two_tenants.b
    queue, other = create_queue(a.id, "Line"), create_queue(a.id, "Other")
    ids = {"self": queue, "other": other, "foreign": create_queue(b.id, "B line")}
    values = {key: ids.get(value, value) if key.endswith("queue_id") else value for key, value in values.items()}
    with app.app_context(), tenant_context(a.id), pytest.raises(DomainError) as refused:
        services.save_rules(queue, RuleValues(**values))
    assert refused.value.field == field
