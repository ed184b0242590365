"""Outbound patient communication: reminders, follow-ups, surveys and their channels (issue 5)."""
