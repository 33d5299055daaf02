"""Fixtures for the alert tests: a chat webhook received by a small HTTP
server on a real socket, and settings that make every alert go out at once
to it and to the site's admins (Django's locmem outbox in tests)."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

# The part of a chat webhook's URL that is its secret, as in Slack's.
WEBHOOK_SECRET_PATH = "/services/T0ALERTS/B0ALERTS/s3cretW3bhookT0ken"


class ChatWebhook:
    """An incoming webhook on 127.0.0.1: keeps every JSON message posted to
    its secret path; answers `status` (200 unless a test says otherwise)."""

    def __init__(self):
        self.messages = []
        self.status = 200
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == WEBHOOK_SECRET_PATH and webhook.status == 200:
                    webhook.messages.append(json.loads(body))
                self.send_response(webhook.status if self.path == WEBHOOK_SECRET_PATH else 404)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}{WEBHOOK_SECRET_PATH}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def texts(self):
        return [message["text"] for message in self.messages]


@pytest.fixture
def chat_webhook():
    webhook = ChatWebhook()
    webhook.thread.start()
    yield webhook
    webhook.server.shutdown()
    webhook.server.server_close()


@pytest.fixture
def alert_settings(settings, chat_webhook):
    """Alerts to admin@example.org and the chat webhook, each sent as soon
    as its condition holds (no hold), with the thresholds the docs give."""
    settings.ADMINS = [("On call", "oncall@example.org")]
    settings.CRM_SYNC = {
        **settings.CRM_SYNC,
        "ALERT_WEBHOOK_URL": chat_webhook.url,
        "ALERT_HOLD_SECONDS": 0,
        "ALERT_CHANNEL_TIMEOUT": 2.0,
    }
    return settings
