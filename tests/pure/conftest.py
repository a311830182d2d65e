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
