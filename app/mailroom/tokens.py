"""Reply tokens: which conversation a patient's reply belongs to, carried in the address it is sent to.

A reply goes out from `termine@praxis.example` with `Reply-To: termine+r42.k3xq…@praxis.example`. The
token names the contact and is signed with the clinic's id, so a token copied into another clinic's
address, or made up, does not verify: threading never crosses clinics on what a sender wrote.
"""

import base64
import hashlib
import hmac
import re

from flask import current_app

_TOKEN = re.compile(r"^r(?P<contact>[1-9][0-9]{0,9})\.(?P<signature>[a-z2-7]{16})$")


def _signature(tenant_id: int, contact_id: int) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, f"mail-reply:{tenant_id}:{contact_id}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:10]).decode().lower()


def reply_token(tenant_id: int, contact_id: int) -> str:
    return f"r{contact_id}.{_signature(tenant_id, contact_id)}"


def reply_address(address: str, tenant_id: int, contact_id: int) -> str:
    """`address` with the conversation's token plus-addressed onto its local part."""
    local, domain = address.rsplit("@", 1)
    return f"{local}+{reply_token(tenant_id, contact_id)}@{domain}"


def split_address(recipient: str) -> tuple[str, str | None]:
    """(`local@domain` without the plus part, the plus part or None), lower-cased."""
    local, _, domain = recipient.strip().lower().rpartition("@")
    base, plus, detail = local.partition("+")
    return f"{base}@{domain}", (detail if plus else None)


def contact_of_token(token: str, tenant_id: int) -> int | None:
    """The contact id a token names, if it was signed for this clinic; None for anything else."""
    match = _TOKEN.match(token or "")
    if match is None:
        return None
    contact_id = int(match["contact"])
    if not hmac.compare_digest(match["signature"], _signature(tenant_id, contact_id)):
        return None
    return contact_id
