"""The waitlist: a cancelled appointment's slot offered to waitlisted patients, first to confirm books it."""
