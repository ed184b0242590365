"""Benchmarks: run as modules from the project folder, e.g. `.venv/bin/python -m bench.claim_next`."""

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


def migrated_app(owner_url: str, app_url: str):
    """The app on a benchmark's throwaway database, connected as the RLS-bound role, schema migrated."""
    from flask_migrate import upgrade

    from app import create_app

    app = create_app(
        {
            "SWITCHBOARD_ENV": "testing",
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": app_url,
            "MIGRATION_DATABASE_URL": owner_url,
            "REDIS_URL": "redis://127.0.0.1:6379/11",
            "INSTANCE_PATH": "/tmp/switchboard-bench",
            "LOG_LEVEL": "WARNING",
        }
    )
    with app.app_context():
        upgrade()
    return app
