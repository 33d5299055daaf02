"""The embedded (filesystem) broker never hands a worker half a message."""

from queue import Empty

import pytest
from kombu import Connection

from badgemaker import filesystem_broker


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


def test_the_default_settings_use_it():
    from django.conf import settings

    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        pytest.skip("CELERY_BROKER_URL names another broker in this run")
    assert settings.CELERY_BROKER_TRANSPORT == "badgemaker.filesystem_broker:Transport"
