"""Routing that acts by itself: each queue's automation rules, evaluated by the scheduler (docs/routing.md)."""
