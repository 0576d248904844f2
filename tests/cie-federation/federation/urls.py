"""Routes per role: the package's own URL modules, mounted where each entity lives."""
from django.urls import include, path

from federation.settings import ROLE

if ROLE == "op":
    urlpatterns = [
        # provider endpoints under oidc/op/ (the package's default prefix)
        path("", include("spid_cie_oidc.provider.urls")),
        # its entity configuration at <entity id>/.well-known/openid-federation
        path("oidc/op/", include("spid_cie_oidc.entity.urls")),
    ]
else:
    urlpatterns = [
        # the authority's own entity configuration, fetch, list, resolve
        path("", include("spid_cie_oidc.entity.urls")),
        path("", include("spid_cie_oidc.authority.urls")),
        # the extra provider this authority serves (rogue at the trust anchor, expiring at
        # the intermediate): only its entity configuration
        path("extra-op/", include("spid_cie_oidc.entity.urls")),
    ]
