"""``manage.py resync_crm``: send the people whose badge was confirmed in a
date range to the CRM again (docs/resync.md).

Argument parsing and output only; the work is ``crm_sync.resync``.
Exit status: 0 nothing failed, 1 something failed (or is still importing),
130 stopped by Ctrl-C.
"""
import collections
import datetime
import signal
import sys
import threading
import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from crm_sync.mapping import crm_mapping

from crm_sync.attempts import pause_state
from crm_sync.errors import CrmError
from crm_sync.importer import MAX_BATCH_SIZE
from crm_sync.resync import Options, Resync

INTERRUPTED = 130


def _date(text):
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"not a date (YYYY-MM-DD): {text!r}") from None


class Progress:
    """A bar with rate and time left on a terminal; plain lines otherwise."""

    def __init__(self, stream, tty):
        self.stream = stream
        self.tty = tty
        self.started = time.monotonic()
        self.last = 0.0
        self.last_line_done = 0

    def __call__(self, done, total):
        now = time.monotonic()
        finished = done >= total
        if self.tty:
            if now - self.last < 0.2 and not finished:
                return
            width = 30
            filled = int(width * done / total) if total else width
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self._figures(done, total, now)}  ")
            if finished:
                self.stream.write("\n")
            self.stream.flush()
        else:
            step = max(1, total // 10)
            if not finished and now - self.last < 10 and done - self.last_line_done < step:
                return
            self.last_line_done = done
            self.stream.write(f"resync: {self._figures(done, total, now)}\n")
        self.last = now

    def _figures(self, done, total, now):
        elapsed = max(now - self.started, 1e-6)
        rate = done / elapsed
        left = (total - done) / rate if rate else 0
        return (f"{done}/{total} ({100 * done // max(total, 1)}%), {rate:.1f} people/s, "
                f"about {datetime.timedelta(seconds=round(left))} left")


class Command(BaseCommand):
    help = ("Send the people whose record was confirmed between two dates to the CRM again, "
            "in bulk when there are more than 10 (docs/resync.md).")

    def add_arguments(self, parser):
        parser.add_argument("--since", required=True, type=_date, help="first day confirmed (YYYY-MM-DD), inclusive")
        parser.add_argument("--until", type=_date, default=None,
                            help="last day confirmed (YYYY-MM-DD), inclusive; default today")
        parser.add_argument("--event", default="", help="only badges of this event (its slug)")
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--failed-only", action="store_true", help="only people whose latest attempt failed")
        which.add_argument("--missing", action="store_true",
                           help="only people opted in and never successfully sent to AC")
        parser.add_argument("--dry-run", action="store_true",
                            help="print what would be sent; write nothing to AC or the database")
        parser.add_argument("--batch-size", type=int, default=MAX_BATCH_SIZE,
                            help=f"people per bulk import request, 1 to {MAX_BATCH_SIZE} (default {MAX_BATCH_SIZE})")
        parser.add_argument("--run-automations", action="store_true",
                            help="let AC run its automations for imported contacts (off: no welcome emails again)")
        parser.add_argument("--poll-timeout", type=float, default=900.0,
                            help="seconds to wait for AC to import a batch (default 900); "
                                 "batches still importing are finished by the next run")

    def handle(self, *args, **options):
        until = options["until"] or timezone.localdate()
        if options["since"] > until:
            raise CommandError(f"--since {options['since']} is after --until {until}")
        if not 1 <= options["batch_size"] <= MAX_BATCH_SIZE:
            raise CommandError(f"--batch-size must be 1 to {MAX_BATCH_SIZE}")
        if options["event"] and crm_mapping().event_filter(options["event"]) is None:
            raise CommandError("--event: this project's CrmMapping defines no events (event_filter)")
        paused = pause_state()
        if paused.get("on") and not options["dry_run"]:
            # The bulk path sends without run_attempt's check: refuse here, so a pause stops every sender.
            raise CommandError(f"sending is paused ({paused.get('reason') or 'no reason given'}): nothing sent; "
                               "resume with `crm_sync_status --resume`, or look with --dry-run", returncode=1)
        settings = Options(
            since=options["since"], until=until, event=options["event"], failed_only=options["failed_only"],
            missing=options["missing"], dry_run=options["dry_run"], batch_size=options["batch_size"],
            run_automations=options["run_automations"], poll_timeout=options["poll_timeout"],
        )
        stop = threading.Event()
        resync = Resync(settings, stop=stop, echo=self.stdout.write, note=self.stderr.write,
                        progress=Progress(self.stderr, sys.stderr.isatty()))
        previous = self._catch_ctrl_c(stop)
        aborted, interrupted = None, False
        try:
            resync.run()
        except KeyboardInterrupt:
            aborted, interrupted = "stopped at once by a second Ctrl-C", True
        except CrmError as error:
            if resync.crm is None:  # the settings were refused before anyone was selected: no summary
                raise CommandError(str(error), returncode=1) from None
            aborted = f"stopped: {error}"
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        summary = resync.summary
        self._print_summary(settings, summary, aborted)
        if interrupted or summary.interrupted:
            raise CommandError("interrupted", returncode=INTERRUPTED)
        if aborted:
            raise CommandError(aborted, returncode=1)
        if not summary.nothing_failed:
            raise CommandError("not everything was sent successfully; see the summary", returncode=1)

    def _catch_ctrl_c(self, stop):
        """First Ctrl-C: finish the batches already sent, then stop. Second: stop now."""
        if threading.current_thread() is not threading.main_thread():
            return None

        def on_ctrl_c(signum, frame):
            if stop.is_set():
                raise KeyboardInterrupt
            stop.set()
            self.stderr.write("\nCtrl-C: finishing the batches already sent; press Ctrl-C again to stop at once.")

        return signal.signal(signal.SIGINT, on_ctrl_c)

    def _print_summary(self, options, summary, aborted):
        out = self.stdout.write
        what = f"confirmed {options.since} to {options.until} ({timezone.get_default_timezone_name()})"
        if options.event:
            what += f", event {options.event}"
        if options.failed_only:
            what += ", latest attempt failed"
        if options.missing:
            what += ", never in AC"
        title = "Dry run, nothing written" if options.dry_run else "Resync"
        if summary.interrupted or aborted:
            title += f" ({aborted or 'interrupted by Ctrl-C'}; partial summary)"
        out(f"\n{title}: {what}")
        if summary.earlier and (summary.earlier.succeeded or summary.earlier.failed or summary.earlier.still_importing):
            earlier = summary.earlier
            out(f"  batches left by an earlier run: {earlier.succeeded} succeeded, {len(earlier.failed)} failed, "
                f"{earlier.still_importing} still importing")
        rows = [
            ("selected", summary.selected),
            ("sent" if not options.dry_run else "would send",
             f"{summary.sent} ({summary.sent - summary.sent_one_by_one} in {summary.batches} bulk import(s), "
             f"{summary.sent_one_by_one} one by one)"),
        ]
        if not options.dry_run:
            rows += [("succeeded", summary.succeeded), ("failed", len(summary.failed))]
        rows += [("skipped as unchanged", summary.skipped_unchanged),
                 ("skipped as not opted in", summary.skipped_not_opted_in)]
        if summary.skipped_other:
            rows.append(("skipped, other", summary.skipped_other))
        if summary.still_importing:
            rows.append(("still importing in AC", f"{summary.still_importing} (the next run polls them)"))
        if summary.in_open_batches:
            rows.append(("in an earlier batch", f"{summary.in_open_batches} (not sent again)"))
        if summary.handed_to_workers:
            rows.append(("left to the workers", summary.handed_to_workers))
        if summary.not_reached:
            rows.append(("not reached", summary.not_reached))
        requests = summary.requests + (summary.earlier.requests if summary.earlier else 0)
        rows.append(("requests made" if not options.dry_run else "requests (estimate)", requests))
        for label, value in rows:
            out(f"  {label + ':':<26}{value}")
        self._print_failures(summary.failed + (summary.earlier.failed if summary.earlier else []))

    def _print_failures(self, failed):
        if not failed:
            return
        groups = collections.OrderedDict()
        for email, category, message in failed:
            groups.setdefault((category, message), []).append(email)
        self.stdout.write("  failures:")
        for (category, message), emails in groups.items():
            shown = ", ".join(emails[:5]) + (f" and {len(emails) - 5} more" if len(emails) > 5 else "")
            self.stdout.write(f"    {len(emails)} × {category}: {message}\n        {shown}")
