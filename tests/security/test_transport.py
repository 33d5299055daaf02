"""TLS checks stay on; plain HTTP goes only to loopback; the key never
follows a redirect to another host."""
import http.server
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest

import crm_sync
from crm_sync.activecampaign.client import ActiveCampaignClient, api_base
from crm_sync.errors import ConfigurationError, TransientError

pytestmark = pytest.mark.usefixtures("ac_settings")
KEY = "transport-test-key-" + "k" * 30


@pytest.fixture
def no_traffic(monkeypatch):
    """Any attempt to open a socket fails the test: refusals must happen before sending."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"a connection was attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("url", [
    "http://10.0.0.1", "http://10.0.0.1/api/3", "http://example.com", "http://badgemaker.api-us1.com",
    "http://127.0.0.1.nip.io", "http://localhost.example.com", "http://0.0.0.0", "http://127.0.0.1@10.0.0.1/",
    "HTTP://10.0.0.1", "ftp://127.0.0.1", "file:///etc/passwd", "//10.0.0.1", "10.0.0.1",
])
def test_plain_http_to_anything_but_loopback_is_refused_before_any_traffic(url, no_traffic):
    with pytest.raises(ConfigurationError) as refused:
        api_base(url)
    with pytest.raises(ConfigurationError):
        ActiveCampaignClient(url, KEY)
    assert KEY not in str(refused.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1", "http://localhost:8765", "http://[::1]:8765",
                                 "http://127.0.0.2", "https://badgemaker.api-us1.com", "https://10.0.0.1"])
def test_loopback_over_http_and_anything_over_https_are_accepted(url, no_traffic):
    assert api_base(url) == url.rstrip("/") + "/api/3"


def test_the_client_never_turns_tls_checks_off():
    source = "\n".join(path.read_text() for path in Path(crm_sync.__file__).parent.rglob("*.py"))
    for forbidden in ("verify=False", "verify = False", "CERT_NONE", "check_hostname = False", "disable_warnings",
                      "_create_unverified_context"):
        assert forbidden not in source, forbidden
    client = ActiveCampaignClient("https://badgemaker.api-us1.com", KEY)
    assert client.session.verify is True
    client.close()


@pytest.fixture
def self_signed_server(tmp_path):
    """An HTTPS server on loopback with a self-signed certificate; records any bytes it receives."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    received = []

    def serve():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(connection, server_side=True) as tls:
                    tls.settimeout(2)
                    received.append(tls.recv(65536))
            except (ssl.SSLError, OSError):
                pass  # the client hung up during the handshake: what should happen

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{listener.getsockname()[1]}", received
    listener.close()


def test_a_self_signed_certificate_fails_with_a_clear_error_and_the_key_is_never_sent(self_signed_server):
    url, received = self_signed_server
    client = ActiveCampaignClient(url, KEY)
    with pytest.raises(TransientError) as failed:
        client.get("/contacts")
    client.close()

    assert "could not reach AC" in str(failed.value) and "SSLError" in str(failed.value)
    assert KEY not in str(failed.value) and KEY not in repr(failed.value)
    assert not any(KEY.encode() in chunk for chunk in received)
    assert not any(b"Api-Token" in chunk for chunk in received)


class _Recorder(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.seen.append(dict(self.headers))
        if self.server.redirect_to:
            self.send_response(302)
            self.send_header("Location", self.server.redirect_to)
            self.end_headers()
            return
        body = b'{"contacts": [], "meta": {"total": "0"}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _serve(host, redirect_to=None):
    server = http.server.HTTPServer((host, 0), _Recorder)
    server.seen, server.redirect_to = [], redirect_to
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_the_key_never_follows_a_redirect_to_another_host():
    other = _serve("127.0.0.1")
    # Same machine, another host name: requests sees a different origin.
    first = _serve("127.0.0.1", redirect_to=f"http://localhost:{other.server_address[1]}/api/3/contacts")
    client = ActiveCampaignClient(f"http://127.0.0.1:{first.server_address[1]}", KEY)
    try:
        try:
            client.get("/contacts")
        except TransientError:
            pass  # refusing to follow is fine; sending the key on is not
        assert first.seen and first.seen[0]["Api-Token"] == KEY
        assert not any(headers.get("Api-Token") for headers in other.seen), "the key was sent to the other host"
    finally:
        client.close()
        first.shutdown()
        other.shutdown()
