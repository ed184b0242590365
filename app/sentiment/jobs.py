"""Sentiment job: label one patient message in the worker (app/sentiment/services.py)."""

from app.jobs import DEFAULT, tenant_job
from app.sentiment import services


@tenant_job(DEFAULT, name="sentiment.label_message")
def label_message(tenant_id: int, sentiment_id: int) -> str | None:
    """Label the message the row asks about; returns its label (None: the row is gone with its contact)."""
    row = services.label_message(sentiment_id)
    return row.label if row is not None else None
