"""Embedded servers of a newcomer's machine (PostgreSQL and Redis), kept in the instance folder.

The rule: an embedded server belongs to the process that started it and ends with it, whatever ends
that process (Ctrl+C, SIGTERM, SIGHUP, a crash). Every other process of the same instance folder
(`flask --app wsgi …`, a second worker) finds the owner's record there and only connects; it never
starts a second server beside it and never stops the owner's. `ownership.py` keeps that record,
`lifeline.py` ties child processes to their parent, and each server (`postgres.py`, `redis.py`) says how it
starts.
"""
