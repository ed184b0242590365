"""Compliance: the audit trail pages, GDPR requests, retention, offboarding (issue 7)."""
