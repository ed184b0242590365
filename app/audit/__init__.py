"""The ground floor every domain writes to: the audit trail and the account-security trail.

It imports no domain (Indico's `modules/logs` stands under every module the same way): a domain
records with `audit.record(...)` or `audit.record_security(...)`, and the caller's commit keeps the
event with the change it describes. The trails are read by the pages that show them.
"""

from app.audit.trail import (
    ACTIONS,
    SECURITY_ACTIONS,
    changed_fields,
    install_setting_audit,
    record,
    record_security,
)

__all__ = ["ACTIONS", "SECURITY_ACTIONS", "changed_fields", "install_setting_audit", "record", "record_security"]
