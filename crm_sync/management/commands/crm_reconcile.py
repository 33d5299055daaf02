from django.core.management.base import BaseCommand

from crm_sync.reconcile import reconcile


class Command(BaseCommand):
    help = ("Queue a sync for opted-in people whose confirmed badge changed after their last attempt "
            "(changes made without post_save: queryset.update(), loaddata, raw SQL, data migrations).")

    def handle(self, *args, **options):
        queued = reconcile()
        self.stdout.write(f"Queued {queued} {'person' if queued == 1 else 'people'} for sync.")
