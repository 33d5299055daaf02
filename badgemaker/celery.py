"""The Celery app, so that `celery -A badgemaker worker` works."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "badgemaker.settings")

app = Celery("badgemaker")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
