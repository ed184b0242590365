"""Dashboards, charts, CSV/PDF exports and scheduled report e-mails (issue 4)."""
