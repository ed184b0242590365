"""Onboarding a clinic across domains: the wizard's steps above the clinics' own pages, and copying a clinic."""
