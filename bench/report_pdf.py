"""PDF report rendering speed: one month's SLA report of a busy clinic, as the e-mail job renders it.

Run from the project folder:

    .venv/bin/python -m bench.report_pdf [--queues 20] [--repeat 10]

Builds a synthetic `SlaReport` (no database: the report's SQL is measured by bench/sla_report.py)
with --queues queues, 31 days of trend, a full weekday × hour heat map and topic/language/channel
breakdowns, then times `app.reports.pdf.report_pdf` in German and the CSV beside it. Prints the best
and median of --repeat runs and the PDF's size and page count; never asserts timings.
"""

import argparse
import io
import random
import statistics
import time
from datetime import date, timedelta
from decimal import Decimal

from flask_babel import force_locale
from pypdf import PdfReader

from app import create_app
from app.reports.pdf import report_pdf
from app.reports.services import Period, QueueRow, SlaReport, report_csv
from app.sla.metrics import Counts
from app.sla.models import ServiceLevelConvention


def synthetic_report(queues: int, rng: random.Random) -> SlaReport:
    period = Period("month", date(2026, 10, 1), date(2026, 10, 31), "Europe/Berlin")
    rows = []
    for number in range(queues):
        offered = rng.randint(2_000, 60_000)
        abandoned = offered // rng.randint(10, 40)
        answered = offered - abandoned
        rows.append(
            QueueRow(
                queue_name=f"Queue {number:02d} ({['DE', 'EN', 'PL', 'FR', 'ES'][number % 5]})",
                channel="phone" if number % 4 else "email",
                policy_name=f"Policy {number % 3}",
                convention=ServiceLevelConvention.EXCLUDE_SHORT_ABANDONS,
                service_level_target=Decimal(80),
                answer_within_seconds=20,
                max_asa_seconds=30,
                max_abandon_percent=Decimal(5),
                first_response_seconds=4 * 3600,
                resolution_seconds=2 * 86400,
                counts=Counts(
                    offered=offered,
                    answered=answered,
                    answered_within=int(answered * rng.uniform(0.6, 0.95)),
                    abandoned=abandoned,
                    abandoned_within=abandoned // 2,
                    short_abandons=abandoned // 5,
                    wait_seconds_answered=answered * rng.randint(5, 40),
                    first_response_due=offered,
                    first_response_met=int(offered * 0.8),
                    resolution_due=offered // 2,
                    resolution_met=int(offered * 0.45),
                    breaches=offered // 25,
                ),
            )
        )
    total = sum((row.counts for row in rows), Counts())
    trend = [
        (period.first_day + timedelta(days=n), Decimal(rng.randint(6000, 9500)) / 100, rng.randint(20_000, 40_000))
        for n in range(31)
    ]
    return SlaReport(
        period=period,
        rows=rows,
        total=total,
        trend=trend,
        heat_map={(weekday, hour): rng.randint(0, 9_000) for weekday in range(1, 8) for hour in range(24)},
        by_topic={"appointments": 500_000, "test_results": 300_000, "billing_questions": 80_000, "general": 1_200},
        by_language={"de": 600_000, "en": 200_000, "pl": 50_000, "fr": 20_000, "es": 10_000},
        by_channel={"phone": 700_000, "email": 150_000, "chat": 30_000},
    )


def _time(function, repeat: int) -> list[float]:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        timings.append(time.perf_counter() - started)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()

    app = create_app(
        {
            # Never connected: the report is synthetic, only the renderers run.
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://bench@/unused",
            "REDIS_URL": "redis://127.0.0.1:6379/15",
            "SECRET_KEY": "bench",
            "SWITCHBOARD_ENV": "testing",
        }
    )
    report = synthetic_report(args.queues, random.Random(4))
    with app.test_request_context(), force_locale("de"):
        document = report_pdf(report, clinic_name="Praxisklinik Nord")  # warm: fonts load
        pdf = _time(lambda: report_pdf(report, clinic_name="Praxisklinik Nord"), args.repeat)
        csv = _time(lambda: report_csv(report), args.repeat)
    pages = len(PdfReader(io.BytesIO(document)).pages)
    print(f"{args.queues} queues, 31 days, 168 heat-map cells; {len(document) / 1024:.0f} KiB, {pages} pages")
    print(f"PDF  best {min(pdf) * 1000:7.1f} ms   median {statistics.median(pdf) * 1000:7.1f} ms")
    print(f"CSV  best {min(csv) * 1000:7.1f} ms   median {statistics.median(csv) * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
