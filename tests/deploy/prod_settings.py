"""A production settings module, as docs/deploy.md describes one: Badge
Maker's settings, which take everything that differs between deployments from
the environment (tests/deploy/production.env, fake values), plus what Django's
own `check --deploy` asks of a site served over https behind a proxy."""
from badgemaker.settings import *  # noqa: F401,F403

# The proxy in front terminates TLS and says so in X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = True
SECURE_HSTS_SECONDS = 365 * 24 * 3600
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
