"""Every systemd unit in docs/deploy.md starts something that exists: the
Celery app and its subcommand and queues, the WSGI application, each
management command with the options given, each program."""
import importlib
import shlex
import shutil
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings
from django.core.management import get_commands, load_command_class

DEPLOY_DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"


def exec_starts():
    """(unit file, ExecStart's words) for every unit in the doc's ini blocks."""
    found, unit = [], None
    for line in DEPLOY_DOC.read_text().splitlines():
        if line.startswith("# /etc/systemd/system/"):
            unit = line.rsplit("/", 1)[1]
        elif line.startswith("ExecStart="):
            found.append((unit, shlex.split(line.removeprefix("ExecStart="))))
    return found


UNITS = exec_starts()


def test_the_doc_has_a_unit_for_each_process():
    assert {unit for unit, _ in UNITS} >= {"badgemaker-web.service", "badgemaker-worker.service",
                                           "badgemaker-beat.service", "badgemaker-status.service",
                                           "badgemaker-metrics.service"}


def option(words, name):
    return words[words.index(name) + 1]


@pytest.mark.parametrize("unit, words", UNITS, ids=[unit for unit, _ in UNITS])
def test_each_exec_start_names_a_real_entry_point(unit, words):
    program = Path(words[0]).name
    if program == "celery":
        app = importlib.import_module(option(words, "-A") + ".celery").app
        assert isinstance(app, Celery)
        assert words[words.index("-A") + 2] in ("worker", "beat")  # celery -A <app> <subcommand>
        if "-Q" in words:
            assert set(option(words, "-Q").split(",")) == {queue.name for queue in settings.CELERY_TASK_QUEUES}
    elif program == "gunicorn":
        module, _, name = next(word for word in words[1:] if ":" in word).partition(":")
        assert callable(getattr(importlib.import_module(module), name))
    elif program == "python":
        assert Path(words[1]).name == "manage.py"
        name, arguments = words[2], words[3:]
        assert name in get_commands()
        command = load_command_class(get_commands()[name], name)
        command.create_parser("manage.py", name).parse_args(arguments)  # exits on an unknown option
    else:
        assert shutil.which(program), f"{unit}: {words[0]} is not a program here"
