# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Shared set-up of the pure tests (no Odoo)."""

import pytest
import requests

from emulator import GraphEmulator

EMULATOR_CLIENT_ID = "emulator-test-client"
EMULATOR_CLIENT_SECRET = "emulator-test-secret"


@pytest.fixture
def emulator():
    """A started Graph emulator with a registered app; stopped after the test."""
    emu = GraphEmulator(seed=1).start()
    emu.register_app(EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET)
    yield emu
    emu.stop()


class GraphSession(requests.Session):
    """requests session on the emulator: trusts its certificate, relative urls, timeouts.

    ``trust_env`` is off because REQUESTS_CA_BUNDLE in the environment would override
    ``verify``.
    """

    def __init__(self, emu, access_token=None):
        super().__init__()
        self.trust_env = False
        self.verify = emu.ca_path
        self.base_url = emu.base_url
        if access_token:
            self.headers["Authorization"] = "Bearer " + access_token

    def request(self, method, url, *args, **kwargs):
        if url.startswith("/"):
            url = self.base_url + url
        kwargs.setdefault("timeout", 10)
        return super().request(method, url, *args, **kwargs)


@pytest.fixture
def graph(emulator):
    """A GraphSession signed in as alice@example.com (mailbox created)."""
    emulator.add_mailbox("alice@example.com", "Alice Smith")
    token = emulator.issue_tokens("alice@example.com", EMULATOR_CLIENT_ID)["access_token"]
    with GraphSession(emulator, token) as session:
        yield session


def pytest_collection_finish(session):
    """Never import the addon package itself in the pure tests.

    The repository root is the Odoo addon: its ``__init__.py`` imports ``odoo``. pytest treats
    every directory holding an ``__init__.py`` as a package and imports it before the first test
    below it runs, which fails without Odoo. The pure tests import ``services`` and ``emulator``
    directly, so that package set-up is skipped.
    """
    for item in session.items:
        for node in item.listchain():
            if isinstance(node, pytest.Package):
                node.setup = _no_package_setup


def _no_package_setup():
    return None


# ----- Graph client (services/) ---------------------------------------------------------------

from dataclasses import dataclass  # noqa: E402
from urllib.parse import parse_qsl, urlsplit  # noqa: E402

from services.auth import TokenProvider  # noqa: E402
from services.graph_client import GraphClient  # noqa: E402

CLIENT_REDIRECT_URI = "https://odoo.example.com/office365_calendar_sync/oauth"
CLIENT_USER = "alice@example.com"


class SleepRecorder(list):
    """Stands in for ``time.sleep``: records the waits instead of waiting."""

    def __call__(self, seconds):
        self.append(seconds)


@pytest.fixture
def sleeps():
    return SleepRecorder()


@pytest.fixture
def connect(emulator):
    """``connect(email, **provider_kwargs)``: a TokenProvider signed in by the real PKCE flow.

    The browser step is a GET of msal's ``auth_uri`` on the emulator, whose redirect carries
    the code and the state back.
    """

    def _connect(email=CLIENT_USER, **kwargs):
        emulator.add_mailbox(email)
        provider = TokenProvider(
            EMULATOR_CLIENT_ID,
            EMULATOR_CLIENT_SECRET,
            emulator.authority,
            verify=emulator.ca_path,
            **kwargs,
        )
        flow = provider.start_auth(CLIENT_REDIRECT_URI, login_hint=email)
        with GraphSession(emulator) as browser:
            answer = browser.get(flow["auth_uri"], allow_redirects=False)
        assert answer.status_code == 302, answer.text
        query = dict(parse_qsl(urlsplit(answer.headers["Location"]).query))
        provider.finish_auth(flow, query)
        return provider

    return _connect


@pytest.fixture
def token_provider(connect):
    """alice@example.com connected through the delegated PKCE flow."""
    return connect(CLIENT_USER)


@pytest.fixture
def make_client(emulator, token_provider, sleeps):
    """``make_client(**kwargs)``: a GraphClient on the emulator with recorded sleeps."""
    clients = []

    def _make(provider=None, **kwargs):
        kwargs.setdefault("sleep", sleeps)
        kwargs.setdefault("rng", lambda: 0.5)
        kwargs.setdefault("timeout", (5, 20))
        kwargs.setdefault("verify", emulator.ca_path)
        graph_client = GraphClient(emulator.base_url, provider or token_provider, **kwargs)
        clients.append(graph_client)
        return graph_client

    yield _make
    for graph_client in clients:
        graph_client.close()


@pytest.fixture
def client(make_client):
    """A delegated GraphClient for alice@example.com."""
    return make_client()


@dataclass
class DeltaRound:
    """A whole delta round read by :func:`delta_round`."""

    events: list
    removed: list
    delta_link: str | None


def delta_round(graph_client, *args, **kwargs):
    """Read a whole delta round with ``iter_delta_pages`` (same arguments), as the sync does."""
    events, removed, last = [], [], None
    for page in graph_client.iter_delta_pages(*args, **kwargs):
        events.extend(page.events)
        removed.extend(page.removed)
        last = page
    return DeltaRound(events, removed, last and last.delta_link)
