from django.apps import AppConfig


class CrmSyncConfig(AppConfig):
    name = "crm_sync"
    verbose_name = "CRM sync"
    # Pinned so that a host project's DEFAULT_AUTO_FIELD never causes a migration here.
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import checks, signals, tasks, webhooks  # noqa: F401  (checks and tasks register on import)

        signals.connect()
        webhooks.hide_tokens_from_logs()
