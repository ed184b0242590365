"""Audit log, GDPR export and erasure, retention (issue 7)."""
