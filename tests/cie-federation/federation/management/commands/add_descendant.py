"""Registers a subordinate of this authority (the onboarding step): its entity id and public
federation keys, e.g. procura's, taken from its entity configuration."""
import json

from django.core.management.base import BaseCommand

from spid_cie_oidc.authority.models import FederationDescendant


class Command(BaseCommand):
    help = "Registers (or updates) a subordinate entity with its federation JWKS."

    def add_arguments(self, parser):
        parser.add_argument("--sub", required=True)
        parser.add_argument("--jwks-file", required=True)
        parser.add_argument("--type", default="openid_relying_party")

    def handle(self, *args, **options):
        with open(options["jwks_file"]) as f:
            jwks = json.load(f)
        keys = jwks["keys"] if isinstance(jwks, dict) else jwks
        FederationDescendant.objects.update_or_create(
            sub=options["sub"],
            defaults=dict(name="procura", type=options["type"], jwks=keys, is_active=True),
        )
        self.stdout.write(f"registered {options['sub']}")
