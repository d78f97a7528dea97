"""Major Incident Hub: the Flask application factory."""

from __future__ import annotations

import logging

from flask import Flask

from hub.app.templates import TEMPLATES


def create_app(config: dict | None = None, *, hub=None) -> Flask:
    """Build the app: defaults, then HUB_* environment, then `config`. No I/O here."""
    from hub.app.context import Hub
    from hub.app.settings import load_settings
    from hub.channels.registry import load_channels
    from hub.http import api, health
    from hub.http import error_handler as errors_handler

    config = dict(config or {})
    load_channels()  # each outgoing channel registers itself, before a policy names them
    if hub is None:
        settings = load_settings(
            overrides={k: v for k, v in config.items() if k.startswith("HUB_")}
        )
        hub = Hub(settings, policy=config.pop("POLICY", None))
    app = Flask(__name__, template_folder=str(TEMPLATES / "web"), static_folder=None)
    app.config.update(
        SECRET_KEY=hub.settings.secret_key,
        MAX_CONTENT_LENGTH=hub.settings.int("HUB_MAX_BODY_BYTES"),
        JSON_SORT_KEYS=False,
    )
    app.config.update({k: v for k, v in config.items() if not k.startswith("HUB_")})
    app.extensions["hub"] = hub
    logging.getLogger("hub").setLevel(hub.settings.text("HUB_LOG_LEVEL"))
    errors_handler.init_app(app)
    from hub.app import audit

    app.before_request(lambda: audit.source.set(_client_address()) and None)
    health.init_app(app, queue_pending)
    app.register_blueprint(api.bp)
    from hub.intake.teams import views as teams_intake

    app.register_blueprint(teams_intake.bp)
    from hub.http import reviews_api

    app.register_blueprint(reviews_api.bp)
    from hub.http import schedules_api

    app.register_blueprint(schedules_api.bp)
    from hub.http import worklog_api

    app.register_blueprint(worklog_api.bp)
    from hub.intake.email import http as email_intake

    app.register_blueprint(email_intake.bp)
    from hub.intake.alerts import http as alerts_intake

    app.register_blueprint(alerts_intake.bp)
    from hub.status import api as status_api

    app.register_blueprint(status_api.bp)
    from hub import web

    web.init_app(app)
    return app


def _client_address() -> str:
    """The client's address for the audit log (the proxy's, unless one is trusted)."""
    from flask import request

    return request.remote_addr or "unknown"


def queue_pending() -> int:
    """Messages waiting in the queue: what /healthz asks the queue (Huey, from tasks/)."""
    from tasks.queue import huey

    return huey.pending_count()
