"""The embedded (filesystem) broker never hands a worker half a message."""

import os
import subprocess
import sys
from pathlib import Path
from queue import Empty

import pytest
from kombu import Connection

from badgemaker import filesystem_broker

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def channel(tmp_path):
    options = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path), "store_processed": False}
    with Connection("filesystem://", transport=filesystem_broker.Transport, transport_options=options) as conn:
        yield conn.default_channel


def test_a_message_being_written_is_not_visible_to_a_reader(channel, monkeypatch):
    seen_while_writing = []
    real_dumps = filesystem_broker.dumps

    def dumps_while_a_worker_polls(payload):
        # A worker polls the folder at this moment: kombu's own transport has
        # created the file already and the worker reads "" (JSONDecodeError).
        try:
            seen_while_writing.append(channel._get("celery"))
        except Empty:
            pass
        return real_dumps(payload)

    monkeypatch.setattr(filesystem_broker, "dumps", dumps_while_a_worker_polls)
    channel._put("celery", {"body": "hello"})

    assert seen_while_writing == []
    assert channel._get("celery") == {"body": "hello"}
    with pytest.raises(Empty):
        channel._get("celery")


def test_a_fresh_clone_uses_it(tmp_path):
    """With CELERY_BROKER_URL unset (the embedded default), whatever broker this run uses."""
    env = {key: value for key, value in os.environ.items() if key != "CELERY_BROKER_URL"}
    env.update(DJANGO_SETTINGS_MODULE="badgemaker.settings", CELERY_FILESYSTEM_BROKER_DIR=str(tmp_path))
    shown = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from badgemaker.celery import app; "
                               "print(app.conf.broker_url, app.conf.broker_transport)"],
        env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert shown == ["filesystem://", "badgemaker.filesystem_broker:Transport"]
