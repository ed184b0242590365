"""Offboarding a clinic: its archive and the proven deletion of its data (`/t/<slug>/offboarding/`)."""
