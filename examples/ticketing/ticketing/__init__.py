"""The ticketing example project. Importing the Celery app here makes the
tasks that crm_sync queues (from the web process or the shell) go to this
project's broker."""
from .celery import app as celery_app

__all__ = ("celery_app",)
