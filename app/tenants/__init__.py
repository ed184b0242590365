"""Clinics as tenants: onboarding, settings, business hours, holidays and closures."""
