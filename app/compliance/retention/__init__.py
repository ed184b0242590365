"""Retention periods per clinic and the nightly purge of what outlived them (`/t/<slug>/retention/`)."""
