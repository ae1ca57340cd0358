"""``atomfleet manage register_atoms``: register the atoms this image serves, before any worker runs.

The chart runs it as a post-install/post-upgrade hook with each worker image, so that the API
accepts runs of every queue — even one KEDA keeps at zero workers — right after a deploy::

    atomfleet manage register_atoms --queues reports --retire-missing
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from atomfleet.catalog import load_catalog
from atomfleet.errors import ConfigurationError
from atomfleet_orchestrator.atoms import registry


class Command(BaseCommand):
    help = "Register the atoms of the installed atom packages (ATOMFLEET_ATOM_PACKAGES) with the orchestrator."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--queues", default="", help="comma-separated queues (default: every atom loaded)")
        parser.add_argument(
            "--retire-missing", action="store_true",
            help="these queues' atoms are exactly those registered now: retire the others",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            catalog = load_catalog(settings.ATOMFLEET_QUEUES, settings.ATOMFLEET_VISIBILITY_TIMEOUT)
        except ConfigurationError as exc:
            raise CommandError(str(exc)) from None
        queues = [q.strip() for q in options["queues"].split(",") if q.strip()]
        undeclared = [q for q in queues if q not in settings.ATOMFLEET_QUEUES]
        if undeclared:
            raise CommandError(f"--queues names undeclared queue(s) {', '.join(undeclared)} "
                               f"(ATOMFLEET_QUEUES: {', '.join(settings.ATOMFLEET_QUEUES)})")
        if options["retire_missing"] and not queues:
            raise CommandError("--retire-missing needs --queues: the queues whose atoms this image defines")
        specs = [spec for spec in catalog if not queues or spec.queue in queues]
        report = registry.register(specs, retire_missing_on=queues if options["retire_missing"] else ())
        for spec in specs:
            self.stdout.write(f"registered {spec.name} ({spec.queue}) {spec.spec_hash[:12]} from {spec.package}")
        self.stdout.write(f"{report.registered} atom(s) registered, {report.retired} retired")
