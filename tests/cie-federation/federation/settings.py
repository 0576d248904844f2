"""Settings of the test federation. Each process plays one role, chosen by CIE_ROLE:

- ta: the trust anchor (spid_cie_oidc.entity + authority), which also serves the entity
  configuration of a provider it has no statement about ("rogue");
- intermediate: an intermediate authority under the trust anchor, superior of the CIE provider
  and of procura, which also serves a provider whose entity configuration expires in a minute;
- op: the CIE-profile OpenID provider (spid_cie_oidc.provider) under the intermediate.

Loopback only, plain HTTP, development secrets: never a production configuration.
"""
import os
from pathlib import Path

ROLE = os.environ["CIE_ROLE"]
BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "cie-federation-test-only"  # nosec: loopback test peer
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "spid_cie_oidc.accounts",
    "spid_cie_oidc.entity",
    "spid_cie_oidc.authority",
    "spid_cie_oidc.onboarding",
    "spid_cie_oidc.provider",
    "federation",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "federation.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["CIE_DB"]}
}
AUTH_USER_MODEL = "spid_cie_oidc_accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "Europe/Rome"
LANGUAGE_CODE = "it-it"
STATIC_URL = "/static/"
SESSION_COOKIE_NAME = f"sessionid_{ROLE}"
CSRF_COOKIE_NAME = f"csrftoken_{ROLE}"

# The federation: one trust anchor; statements fetched synchronously with requests.
OIDCFED_TRUST_ANCHORS = [os.environ["CIE_TA"]]
OIDCFED_REQUIRED_TRUST_MARKS = []
HTTP_CLIENT_SYNC = True
HTTPC_PARAMS = {"timeout": 8}

# The CIE profile of the provider; userinfo encrypted as procura asks (RSA-OAEP-256).
OIDCFED_PROVIDER_PROFILE = "cie"
OIDCFED_DEFAULT_PROVIDER_PROFILE = "cie"
OIDCFED_PROVIDER_SALT = "cie-federation-test-only"
DEFAULT_JWE_ALG = os.environ.get("CIE_JWE_ALG", "RSA-OAEP-256")
DEFAULT_JWE_ENC = os.environ.get("CIE_JWE_ENC", "A256CBC-HS512")

LOGGING = {
    "version": 1,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"spid_cie_oidc": {"handlers": ["console"], "level": "INFO"}},
}
