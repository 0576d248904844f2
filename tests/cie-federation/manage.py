#!/usr/bin/env python3
"""The CIE federation test peers: one Django project, three roles (CIE_ROLE=ta|intermediate|op),
built only from the apps of the spid-cie-oidc package. See scripts/cie-federation.sh."""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "federation.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
