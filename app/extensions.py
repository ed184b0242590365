"""Extensions, created once here and bound to an application in `create_app`."""

from flask import current_app
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from redis import Redis

from app.embedded.redis import ensure_redis_url
from app.models import Base
from app.tenancy import TenantSession

# TenantSession marks flushes for the tenant guard (app/tenancy.py).
db = SQLAlchemy(model_class=Base, session_options={"class_": TenantSession})
migrate = Migrate()
babel = Babel()
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address)
# The JSON API's OpenAPI document; its blueprints are registered through it in create_app.
api = Api()


REDIS_CONNECT_TIMEOUT = 5


def redis_connection() -> Redis:
    """The application's Redis client: REDIS_URL's, else the instance folder's embedded server."""
    client = current_app.extensions.get("redis")
    if client is None:
        # A Redis host that does not answer must not hold a request for minutes (TCP's own timeout).
        client = Redis.from_url(ensure_redis_url(current_app), socket_connect_timeout=REDIS_CONNECT_TIMEOUT)
        current_app.extensions["redis"] = client
    return client
