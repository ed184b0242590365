"""JSON API (OpenAPI) for clinics' systems and telephony events (issue 3)."""
