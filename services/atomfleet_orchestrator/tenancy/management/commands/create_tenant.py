from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from atomfleet_orchestrator.tenancy.models import Tenant


class Command(BaseCommand):
    help = "Create a tenant (idempotent: an existing slug is left as it is)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="lowercase letters, digits and '-'")
        parser.add_argument("--name", default="", help="display name")

    def handle(self, *args: Any, slug: str, name: str, **options: Any) -> None:
        tenant = Tenant(slug=slug, name=name)
        try:
            tenant.full_clean(validate_unique=False)
        except ValidationError as exc:
            raise CommandError(f"invalid tenant: {exc.message_dict}") from exc
        tenant, created = Tenant.objects.get_or_create(slug=slug, defaults={"name": name})
        self.stdout.write(f"tenant {tenant.slug} {'created' if created else 'exists'}")
