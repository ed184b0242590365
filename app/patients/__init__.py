"""Patients, their consent per channel, and their appointments: intake (API, CSV import), outcomes, listing."""
