# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Shared set-up of the pure tests (no Odoo)."""

import pytest


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
