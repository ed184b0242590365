"""The Flask application class: the request's one transaction is committed in one place.

A view calls services (which flush, never commit) and renders. When the view has returned, its
writes stand: `dispatch_request` commits once, and the jobs queued meanwhile go out after the commit
(app/jobs.py, through the outbox). When the view raises (a DomainError, a 404, a crash), nothing is
committed: the error handler rolls back (app/errors.py). A service's refusal that a page shows beside
its form is caught by `app.forms.domain_errors`, which rolls back at once, so the commit that follows
the view has nothing half-written to keep. (Indico's request handler commits once the same way.)
"""

from flask import Flask

from app.extensions import db


class Switchboard(Flask):
    def dispatch_request(self):
        answer = super().dispatch_request()
        db.session.commit()
        return answer
