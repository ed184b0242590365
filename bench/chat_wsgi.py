"""The application as `bench.chat` serves it: `gunicorn bench.chat_wsgi:app`, configured from the environment
like `wsgi.py`, with the chat's per-address rate limits raised: every simulated patient calls from the
bench's one loopback address, where real patients each have their own."""

from app import create_app

UNLIMITED = "100000 per minute"

app = create_app(
    {
        "CHAT_IP_RATE": UNLIMITED,
        "CHAT_START_RATE": UNLIMITED,
        "CHAT_VISITOR_RATE": UNLIMITED,
        "CHAT_SIGNAL_RATE": UNLIMITED,
        "LOGIN_RATE_LIMIT": UNLIMITED,
    }
)
