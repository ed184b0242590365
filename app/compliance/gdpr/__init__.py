"""GDPR data-subject requests per patient: export as JSON and PDF, erasure, the request log (`/t/<slug>/privacy`)."""
