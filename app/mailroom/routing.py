"""Which clinic an address belongs to: the one cross-clinic read of the inbound gateway.

A recipient names no clinic until its address is looked up, so the look-up reads every clinic's
addresses (`all_tenants=True`, on the console role's read-only connection) and returns ids only; everything
after it runs inside that one clinic. The plus part (a reply token) is stripped first. The addresses are read
all at once and kept for a few seconds per process (MAIL_ADDRESS_CACHE_SECONDS); a new or removed address is
seen once that time has passed.
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
_CACHE_KEY = "mailroom.address_book"


class _AddressBook:
    """Every clinic's addresses, read at once and kept for a few seconds: the gateway asks at every RCPT and for
    every sender's loop check, and a sender is rarely one of ours, so a look-up per question would be a
    cross-clinic query per mail (docs/benchmarks.md, inbound mail)."""

    def __init__(self):
        self.addresses: dict[str, tuple[int, int]] = {}
        self.read_at: float | None = None
        self.lock = Lock()

    def current(self, ttl: float) -> dict[str, tuple[int, int]]:
        with self.lock:
            if self.read_at is None or time.monotonic() - self.read_at >= ttl:
                rows = db.session.execute(
                    select(InboundAddress.address, InboundAddress.tenant_id, InboundAddress.id).execution_options(
                        all_tenants=True
                    )
                )
                self.addresses = {row.address: (row.tenant_id, row.id) for row in rows}
                self.read_at = time.monotonic()
            return self.addresses


def _book() -> _AddressBook:
    return current_app.extensions.setdefault(_CACHE_KEY, _AddressBook())


def forget_addresses() -> None:
    """Drop what this process remembers (tests; after a manager changed an address in this process)."""
    _book().read_at = None


def find_address(recipient: str) -> tuple[int, int] | None:
    """(tenant id, inbound address id) of the clinic address `recipient` is, plus part aside; else None."""
    address, _token = split_address(recipient or "")
    if not ADDR_SPEC.match(address):
        return None  # nothing a clinic's address could be
    ttl = current_app.config.get("MAIL_ADDRESS_CACHE_SECONDS", DEFAULT_CACHE_SECONDS)
    return _book().current(ttl).get(address)
