"""Badge Maker: attendees make a badge for an event."""
from .celery import app as celery_app

__all__ = ("celery_app",)
