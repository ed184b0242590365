"""Which clinic an address belongs to: the one cross-clinic read of the inbound gateway.

A recipient names no clinic until its address is looked up, so the look-up reads every clinic's
addresses (`all_tenants=True`, on the console role's read-only connection) and returns ids only; everything
after it runs inside that one clinic. The plus part (a reply token) is stripped first. Answers are kept
for a few seconds per process (the gateway asks at every RCPT and for every sender's loop check); a new or
removed address is seen once that time has passed.
"""

import time
from threading import Lock

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.mailroom.models import InboundAddress
from app.mailroom.parsing import ADDR_SPEC
from app.mailroom.tokens import split_address

DEFAULT_CACHE_SECONDS = 5.0
_CACHE_KEY = "mailroom.address_cache"


class _AddressCache:
    def __init__(self):
        self.entries: dict[str, tuple[float, tuple[int, int] | None]] = {}
        self.lock = Lock()

    def get(self, address: str, ttl: float):
        with self.lock:
            entry = self.entries.get(address)
        if entry is not None and time.monotonic() - entry[0] < ttl:
            return entry
        return None

    def put(self, address: str, found: tuple[int, int] | None) -> None:
        with self.lock:
            if len(self.entries) > 50_000:  # recipients made up by spammers must not grow it without end
                self.entries.clear()
            self.entries[address] = (time.monotonic(), found)


def _cache() -> _AddressCache:
    return current_app.extensions.setdefault(_CACHE_KEY, _AddressCache())


def forget_addresses() -> None:
    """Drop what this process remembers (tests; after a manager changed an address in this process)."""
    _cache().entries.clear()


def find_address(recipient: str) -> tuple[int, int] | None:
    """(tenant id, inbound address id) of the clinic address `recipient` is, plus part aside; else None."""
    address, _token = split_address(recipient or "")
    if not ADDR_SPEC.match(address):
        return None  # nothing a clinic's address could be (a NUL would not even reach the database)
    ttl = current_app.config.get("MAIL_ADDRESS_CACHE_SECONDS", DEFAULT_CACHE_SECONDS)
    cached = _cache().get(address, ttl)
    if cached is not None:
        return cached[1]
    row = db.session.execute(
        select(InboundAddress.tenant_id, InboundAddress.id)
        .where(InboundAddress.address == address)
        .execution_options(all_tenants=True)
    ).first()
    found = (row.tenant_id, row.id) if row else None
    _cache().put(address, found)
    return found
