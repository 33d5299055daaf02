from django.apps import AppConfig


class BadgesConfig(AppConfig):
    name = "badgemaker.badges"
    label = "badges"
    verbose_name = "Badges"
    default_auto_field = "django.db.models.BigAutoField"
