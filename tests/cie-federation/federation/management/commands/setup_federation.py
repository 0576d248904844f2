"""Creates this process's entities (CIE_ROLE) and writes the public federation keys of each
entity it owns to CIE_OUT/<name>.jwks.json for the roles above it to register.

Order: op, intermediate (reads op.jwks.json), ta (reads intermediate.jwks.json). The trust
anchor's keys (ta.jwks.json) are what procura pins in cie.trust_anchor_jwks."""
import json
import os
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from spid_cie_oidc.authority.models import FederationDescendant
from spid_cie_oidc.entity.jwks import create_jwk, public_jwk_from_private_jwk
from spid_cie_oidc.entity.models import FederationEntityConfiguration

ACR = [
    "https://www.spid.gov.it/SpidL1",
    "https://www.spid.gov.it/SpidL2",
    "https://www.spid.gov.it/SpidL3",
]


def keys(use):
    jwk = create_jwk()
    jwk["use"] = use
    return [jwk]


def public(private_jwks):
    out = []
    for k in private_jwks:
        p = public_jwk_from_private_jwk(k)
        if "use" in k:
            p["use"] = k["use"]
        out.append(p)
    return out


def provider_metadata(op, core):
    return {
        "issuer": op,
        "authorization_endpoint": f"{op}/authorization",
        "token_endpoint": f"{op}/token",
        "userinfo_endpoint": f"{op}/userinfo",
        "introspection_endpoint": f"{op}/introspection",
        "revocation_endpoint": f"{op}/revocation",
        "jwks": {"keys": public(core)},
        "scopes_supported": ["openid", "profile", "offline_access"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "acr_values_supported": ACR,
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256", "RS512"],
        "userinfo_signing_alg_values_supported": ["RS256", "RS512"],
        "userinfo_encryption_alg_values_supported": ["RSA-OAEP", "RSA-OAEP-256"],
        "userinfo_encryption_enc_values_supported": ["A128CBC-HS256", "A256CBC-HS512"],
        "request_object_signing_alg_values_supported": ["RS256", "RS512"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "RS512"],
        "claims_parameter_supported": True,
        "request_parameter_supported": True,
        "authorization_response_iss_parameter_supported": True,
        "claims_supported": [
            "given_name",
            "family_name",
            "https://attributes.eid.gov.it/fiscal_number",
        ],
    }


def authority(sub, hints, constraints=None):
    return FederationEntityConfiguration.objects.create(
        sub=sub,
        authority_hints=hints,
        jwks_fed=keys("sig"),
        jwks_core=keys("sig"),
        constraints=constraints or {},
        entity_type="federation_entity",
        metadata={
            "federation_entity": {
                "organization_name": f"Autorità di prova {sub}",
                "homepage_uri": sub,
                "contacts": ["ops@example.org"],
                "federation_fetch_endpoint": f"{sub}/fetch",
                "federation_resolve_endpoint": f"{sub}/resolve",
                "federation_list_endpoint": f"{sub}/list",
            }
        },
        is_active=True,
    )


def provider(sub, hints, core, default_exp=None, federation_entity=True):
    metadata = {"openid_provider": provider_metadata(sub, core)}
    if federation_entity:
        metadata["federation_entity"] = {"organization_name": "CIE OP di prova"}
    conf = FederationEntityConfiguration(
        sub=sub,
        authority_hints=hints,
        jwks_fed=keys("sig"),
        jwks_core=core,
        entity_type="openid_provider",
        metadata=metadata,
        is_active=True,
    )
    if default_exp is not None:
        conf.default_exp = default_exp
    conf.save()
    return conf


def descendant(sub, name, typ, jwks):
    FederationDescendant.objects.create(
        sub=sub, name=name[:33], type=typ, jwks=jwks, is_active=True
    )


class Command(BaseCommand):
    help = "Creates the test federation entities of this role."

    def handle(self, *args, **options):
        role = os.environ["CIE_ROLE"]
        out = Path(os.environ["CIE_OUT"])
        ta, inter, op = os.environ["CIE_TA"], os.environ["CIE_INT"], os.environ["CIE_OP"]
        extra = os.environ["CIE_EXTRA_OP"]

        def write(name, conf):
            (out / f"{name}.jwks.json").write_text(json.dumps({"keys": public(conf.jwks_fed)}))

        if role == "op":
            conf = provider(op, [inter], keys("sig"))
            write("op", conf)
            user = get_user_model().objects.create_user(
                username="mario", password=os.environ["CIE_USER_PASSWORD"], email="mario@example.org"
            )
            user.attributes = {
                "https://attributes.eid.gov.it/fiscal_number": "TINIT-GDASDV00A01H501J",
                "fiscal_number": "TINIT-GDASDV00A01H501J",
                "given_name": "Mario",
                "family_name": "Rossi",
                "email": "mario@example.org",
            }
            user.save()
        elif role == "intermediate":
            write("intermediate", authority(inter, [ta]))
            op_keys = json.loads((out / "op.jwks.json").read_text())["keys"]
            descendant(op, "CIE OP di prova", "openid_provider", op_keys)
            # A provider whose entity configuration lives one minute (default_exp, minutes).
            expiring = provider(extra, [inter], keys("sig"), default_exp=1, federation_entity=False)
            descendant(extra, "OP in scadenza", "openid_provider", public(expiring.jwks_fed))
        elif role == "ta":
            # max_path_length 1: one intermediate between the anchor and a leaf.
            write("ta", authority(ta, [], {"max_path_length": 1}))
            inter_keys = json.loads((out / "intermediate.jwks.json").read_text())["keys"]
            descendant(inter, "Intermedio di prova", "federation_entity", inter_keys)
            # A provider naming the anchor, which has no statement about it.
            provider(extra, [ta], keys("sig"), federation_entity=False)
        self.stdout.write(f"{role}: entities created")
