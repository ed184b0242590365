"""JSON API v1, read-only: a clinic's SLA figures and SLA statement for a month, for its reporting tools.

Tokens need the scope `reports:read` (chosen on the token page); a token without it is answered 403,
whatever else it may do. As everywhere in the API, the token decides the clinic: the figures are
built inside it (both walls), so another clinic's cannot be asked for.
"""

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, g
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate
from werkzeug.exceptions import HTTPException

from app.api.schemas import ErrorSchema, StrictSchema
from app.api.views import _authenticate, _domain_error, _http_error, _rate_limit_key, requires_scope
from app.auth.access import API_CLIENTS, default_rule
from app.auth.models import ApiScope
from app.errors import DomainError, NotFound
from app.extensions import csrf, limiter
from app.health import require_redis
from app.i18n import _l
from app.input_rules import check_date
from app.reports import services
from app.sla import metrics, statements
from app.sla.models import ServiceLevelConvention

blp = Blueprint(
    "api_reports",
    __name__,
    url_prefix="/api/v1/reports",
    description="The clinic's SLA figures, read only (token scope `reports:read`).",
)
csrf.exempt(blp)
default_rule(blp, API_CLIENTS)
# One budget per token across the whole API: the same scope as app/api/views.py.
limiter.shared_limit(lambda: current_app.config["API_RATE_LIMIT"], scope="api", key_func=_rate_limit_key)(blp)
blp.before_request(require_redis)  # as app/api/views.py: 503 while Redis is down
blp.before_request(_authenticate)
blp.before_request(requires_scope(ApiScope.REPORTS_READ))
blp.errorhandler(DomainError)(_domain_error)
blp.errorhandler(HTTPException)(_http_error)

MONTH_PATTERN = r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])$"


class MonthQuerySchema(StrictSchema):
    month = fields.String(
        validate=validate.Regexp(MONTH_PATTERN, error=str(_l("Give the month as YYYY-MM, e.g. 2026-10."))),
        metadata={"description": "The month as YYYY-MM in the clinic's time zone; this month when left out."},
    )


class PeriodSchema(Schema):
    first_day = fields.Date()
    last_day = fields.Date(metadata={"description": "Inclusive."})
    time_zone = fields.String(metadata={"description": "The clinic's time zone, in which the days are counted."})


class FiguresSchema(Schema):
    """Counts and the percentages shown for them (two decimals; null when there was nothing to measure)."""

    offered = fields.Integer()
    answered = fields.Integer()
    answered_within_target = fields.Integer()
    abandoned = fields.Integer()
    short_abandons = fields.Integer()
    breaches = fields.Integer(metadata={"description": "Contacts whose first response came late or not at all."})
    service_level_percent = fields.Float(allow_none=True)
    asa_seconds = fields.Float(allow_none=True, metadata={"description": "Average speed of answer."})
    abandonment_percent = fields.Float(allow_none=True)
    first_response_compliance_percent = fields.Float(allow_none=True)
    resolution_compliance_percent = fields.Float(allow_none=True)


class QueueFiguresSchema(FiguresSchema):
    queue = fields.String()
    channel = fields.String()
    policy = fields.String(allow_none=True, metadata={"description": "The SLA policy version's name."})
    convention = fields.Enum(ServiceLevelConvention, by_value=True)
    service_level_target_percent = fields.Float(allow_none=True)
    answer_within_seconds = fields.Integer()
    meets_target = fields.Boolean(
        allow_none=True, metadata={"description": "Judged on the exact share, not the rounded percentage."}
    )


class MonthFiguresSchema(Schema):
    period = fields.Nested(PeriodSchema)
    total = fields.Nested(FiguresSchema)
    queues = fields.List(fields.Nested(QueueFiguresSchema), metadata={"description": "One row per queue and policy."})


def _month(text: str | None, time_zone: str) -> services.Period:
    today = datetime.now(ZoneInfo(time_zone)).date()
    if text is None:
        return services.parse_period("month", None, None, time_zone, today=today)
    if not re.match(MONTH_PATTERN, text):
        raise DomainError(_l("Give the month as YYYY-MM, e.g. 2026-10."), "month")
    first = check_date(date(int(text[:4]), int(text[5:7]), 1), "month")
    return services.parse_period("month", None, None, time_zone, today=first)


def _number(value):
    return None if value is None else float(value)


def _figures(counts, *, service_level, asa, abandonment, first_response, resolution) -> dict:
    return {
        "offered": counts.offered,
        "answered": counts.answered,
        "answered_within_target": counts.answered_within,
        "abandoned": counts.abandoned,
        "short_abandons": counts.short_abandons,
        "breaches": counts.breaches,
        "service_level_percent": _number(service_level),
        "asa_seconds": _number(asa),
        "abandonment_percent": _number(abandonment),
        "first_response_compliance_percent": _number(first_response),
        "resolution_compliance_percent": _number(resolution),
    }


def month_figures(report: services.SlaReport) -> dict:
    """The report's figures as the API answers them (the dashboard's numbers, the CSV's columns)."""
    total = report.total
    return {
        "period": {
            "first_day": report.period.first_day,
            "last_day": report.period.last_day,
            "time_zone": report.period.time_zone,
        },
        "total": _figures(
            total,
            service_level=report.total_service_level,
            asa=metrics.average_speed_of_answer(total),
            abandonment=metrics.abandonment_rate(total),
            first_response=metrics.first_response_compliance(total),
            resolution=metrics.resolution_compliance(total),
        ),
        "queues": [
            {
                "queue": row.queue_name,
                "channel": row.channel,
                "policy": row.policy_name,
                "convention": row.convention,
                "service_level_target_percent": _number(row.service_level_target),
                "answer_within_seconds": row.answer_within_seconds,
                "meets_target": row.meets_target,
                **_figures(
                    row.counts,
                    service_level=row.service_level,
                    asa=row.asa,
                    abandonment=row.abandonment,
                    first_response=row.first_response,
                    resolution=row.resolution,
                ),
            }
            for row in report.rows
        ],
    }


@blp.get("/month")
# webargs ignores unknown query parameters unless told otherwise: a misspelt one must not go unnoticed.
@blp.arguments(MonthQuerySchema, location="query", unknown=RAISE)
@blp.response(200, MonthFiguresSchema, description="The month's figures, per queue and in total.")
@blp.alt_response(400, description="The month is not YYYY-MM, or out of range.", schema=ErrorSchema)
@blp.alt_response(403, description="The token lacks the scope reports:read.", schema=ErrorSchema)
def month(args: dict):
    """Read a month's SLA figures (this month when no month is given)."""
    return month_figures(services.build_report(_month(args.get("month"), g.tenant.time_zone)))


class StatementMetricSchema(Schema):
    """One metric of the contract as the statement froze it; figures are exact decimals given as text."""

    key = fields.String(metadata={"description": "service_level, asa, abandonment, first_response or resolution."})
    queues = fields.List(fields.String(), metadata={"description": "The queues the metric is measured over."})
    convention = fields.String(allow_none=True)
    target = fields.String(allow_none=True)
    unit = fields.String()
    result = fields.String(allow_none=True, metadata={"description": "Null when nothing was measured."})
    met = fields.Boolean(allow_none=True)
    credit_percent = fields.String(allow_none=True, metadata={"description": "The tier's credit for this metric."})
    offered = fields.Integer()
    answered = fields.Integer()
    abandoned = fields.Integer()


class StatementSchema(Schema):
    month = fields.String(metadata={"description": "YYYY-MM, in the clinic's time zone."})
    status = fields.String(metadata={"description": "issued, accepted, disputed or resolved."})
    final = fields.Boolean(metadata={"description": "Accepted, resolved, or left undisputed long enough."})
    contract_version = fields.Integer()
    currency = fields.String(allow_none=True)
    fee = fields.String(metadata={"description": "The month's fee the credit is a share of."})
    credit_percent = fields.String(metadata={"description": "The credited share after the contract's cap."})
    credit = fields.String(metadata={"description": "The service credit, rounded once, as on the invoice."})
    metrics = fields.List(fields.Nested(StatementMetricSchema))


def statement_answer(statement) -> dict:
    """A statement as the API answers it: its frozen figures only, as the page and the files show them."""
    figures = statement.figures
    keys = StatementMetricSchema._declared_fields
    return {
        "month": figures["month"],
        "status": statement.status.value,
        "final": statements.is_final(statement),
        "contract_version": figures["contract_version"],
        "currency": figures["currency"],
        "fee": figures["fee"],
        "credit_percent": figures["capped_percent"],
        "credit": figures["credit"],
        "metrics": [{key: row.get(key) for key in keys} for row in figures["metrics"]],
    }


@blp.get("/statement")
@blp.arguments(MonthQuerySchema, location="query", unknown=RAISE)
@blp.response(200, StatementSchema, description="The month's SLA statement, as frozen at the month's close.")
@blp.alt_response(400, description="The month is not YYYY-MM, or out of range.", schema=ErrorSchema)
@blp.alt_response(403, description="The token lacks the scope reports:read.", schema=ErrorSchema)
@blp.alt_response(404, description="No statement for that month (not closed yet, or no contract).", schema=ErrorSchema)
def statement(args: dict):
    """Read a month's SLA statement (last month when no month is given)."""
    time_zone = g.tenant.time_zone
    if args.get("month"):
        first_day = _month(args["month"], time_zone).first_day
    else:
        this_month = datetime.now(ZoneInfo(time_zone)).date().replace(day=1)
        first_day = (this_month - timedelta(days=1)).replace(day=1)
    found = statements.statement_for(first_day)
    if found is None:
        raise NotFound(_l("There is no SLA statement for this month yet."))
    return statement_answer(found)
