# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The addon of a database pointed at a Graph emulator, and mailboxes connected to it.

The one set-up of everything that runs the addon against the emulator: the Odoo tests
(``tests/common.py``), the demo, the benchmarks and the soak. Runs inside Odoo (it takes
``env`` or records); import it as ``odoo.addons.office365_calendar_sync.tools.emulator_setup``.
The emulator may be a :class:`emulator.GraphEmulator` or anything with its ``base_url``,
``authority`` and ``ca_path`` (and ``register_app`` to register the application): the bench's
emulator in another process, the demo's ``python -m emulator``.
"""

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qsl, urlsplit

import requests

from ..services.constants import PARAM

# The Azure application of the addon, as the emulator knows it.
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
CLIENT_SECRET = "emulator-client-secret"
REDIRECT_URI = "http://localhost:8069/office365_calendar_sync/oauth/callback"


def set_params(env, **values):
    """Set the addon's settings (``ir.config_parameter`` named :data:`PARAM` + key)."""
    params = env["ir.config_parameter"].sudo()
    for key, value in values.items():
        params.set_param(PARAM + key, value)


def configure(
    env,
    emulator,
    *,
    client_id=CLIENT_ID,
    client_secret=CLIENT_SECRET,
    redirect_uris=(REDIRECT_URI,),
    **settings,
):
    """Point the addon at ``emulator`` as the application ``client_id``, each user signing in
    with their own account; ``settings`` are more of the addon's settings. With
    ``redirect_uris``, the application is first registered on the emulator (the demo's
    emulator process is started with it instead)."""
    if redirect_uris:
        emulator.register_app(client_id, client_secret, list(redirect_uris))
    login_url, _sep, tenant = emulator.authority.rstrip("/").rpartition("/")
    set_params(
        env,
        client_id=client_id,
        client_secret=client_secret,
        tenant=tenant,
        login_url=login_url,
        graph_url=emulator.base_url,
        ca_bundle=emulator.ca_path,
        mode="user",
        **settings,
    )


def connect_mailbox(emulator, user, email, redirect_uri=REDIRECT_URI):
    """Connect ``user`` to the emulator's mailbox ``email`` through the real sign-in: the
    authorization code flow with PKCE, the browser's part played by ``requests`` (the emulator
    signs in its ``login_hint`` at once). Returns the user's ``office365.account``."""
    return connect_mailboxes(emulator, [(user, email)], redirect_uri)[0]


def connect_mailboxes(emulator, pairs, redirect_uri=REDIRECT_URI, threads=1):
    """:func:`connect_mailbox` for each ``(user, email)`` of ``pairs``; with ``threads`` > 1
    the sign-ins' HTTP exchanges run in that many threads (the ORM work stays in the caller's
    thread). Returns the accounts, in the order of ``pairs``."""
    accounts = [user._o365_account() for user, _email in pairs]
    providers = [account._o365_token_provider() for account in accounts]

    def sign_in(provider, email):
        flow = provider.start_auth(redirect_uri, login_hint=email)
        answer = requests.get(
            flow["auth_uri"], allow_redirects=False, verify=emulator.ca_path, timeout=30
        )
        provider.finish_auth(flow, dict(parse_qsl(urlsplit(answer.headers["Location"]).query)))
        return provider.serialize()

    emails = [email for _user, email in pairs]
    if threads > 1 and len(pairs) > 1:
        with ThreadPoolExecutor(min(threads, len(pairs))) as pool:
            caches = list(pool.map(sign_in, providers, emails))
    else:
        caches = list(map(sign_in, providers, emails))
    for account, email, cache in zip(accounts, emails, caches, strict=True):
        account.write({"email": email, "state": "connected"})
        account._o365_store_token_cache(cache)
    return accounts
