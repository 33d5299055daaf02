"""``manage.py ac_sandbox``: serve the local ActiveCampaign emulator on loopback.

Argument parsing and output only; the sandbox itself is ``crm_sync.sandbox``.
"""

import errno
import os
import signal

from django.core.management.base import BaseCommand, CommandError

from crm_sync.sandbox.server import Sandbox


class Command(BaseCommand):
    help = "Serve a local emulator of the ActiveCampaign API v3 (see docs/sandbox.md)."
    # The sandbox needs nothing from the project; skipping checks keeps its output to one line.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8765, help="API port (default 8765)")
        parser.add_argument("--control-port", type=int, default=8766,
                            help="always-up control API port (default 8766)")
        parser.add_argument("--db", default=os.path.join("var", "ac-sandbox.sqlite3"),
                            help="SQLite file for the sandbox's state (default var/ac-sandbox.sqlite3)")
        parser.add_argument("--reset", action="store_true", help="wipe the data and re-seed before serving")
        parser.add_argument("--empty", action="store_true",
                            help="wipe the data and start from an account with no custom fields, lists or tags "
                                 "(implies --reset)")
        parser.add_argument("--seed", type=int, default=None,
                            help="seed for ids and decoy order (default: random)")
        parser.add_argument("--api-key", default=None,
                            help="API key clients must send (default: $ACTIVECAMPAIGN_API_KEY)")

    def handle(self, *args, **options):
        api_key = options["api_key"] or os.environ.get("ACTIVECAMPAIGN_API_KEY")
        if not api_key:
            raise CommandError("no API key: pass --api-key or set ACTIVECAMPAIGN_API_KEY")
        sandbox = Sandbox(options["db"], api_key, port=options["port"],
                          control_port=options["control_port"], seed=options["seed"])
        try:
            sandbox.start()
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise CommandError(f"{error.strerror}; pick another port with --port/--control-port") from None
            raise CommandError(f"cannot start the sandbox: {error}") from None
        if options["reset"] or options["empty"]:
            sandbox.reset(seed=options["seed"], empty=options["empty"])
        key_source = "--api-key" if options["api_key"] else "ACTIVECAMPAIGN_API_KEY"
        # Never print the key itself: terminal output ends up in CI logs.
        self.stdout.write(
            f"AC sandbox: API {sandbox.api_url} (key from {key_source}), "
            f"control {sandbox.control_url}/_sandbox/, page {sandbox.url}/, db {options['db']}. Ctrl-C to stop.")
        # Ctrl-C and SIGTERM stop it even when it was started with SIGINT
        # ignored (a shell's background job, as CI starts one): Python then
        # leaves SIGINT ignored unless told otherwise.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        sandbox.serve_forever()
