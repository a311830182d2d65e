# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The reduced fault soak of ``make soak``: random changes on both sides under faults, then no
duplicate, no lost update and nothing different between Odoo and Outlook."""

import importlib.util
import logging
import os
from pathlib import Path

from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import Office365Case

_logger = logging.getLogger(__name__)
OPERATIONS = 150


def _soak_module():
    path = Path(__file__).resolve().parent.parent / "tools" / "soak.py"
    spec = importlib.util.spec_from_file_location("office365_calendar_sync_soak", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@tagged("post_install", "-at_install")
class TestSoak(Office365Case):
    def test_reduced_soak_loses_and_doubles_nothing(self):
        soak_module = _soak_module()
        soak = soak_module.Soak(
            self.env,
            self.emulator,
            self._o365_connect,
            operations=OPERATIONS,
            seed=int(os.environ.get("O365_SOAK_SEED", 7)),
            commit=False,
            conflicts=False,
            say=_logger.info,
        )
        with mute_logger(
            "odoo.addons.office365_calendar_sync.models.office365_account",
            "odoo.addons.office365_calendar_sync.services.graph_client",
            "odoo.addons.office365_calendar_sync.models.office365_inbound_event",
        ):
            result = soak.run()
        soak_module.report(result, say=_logger.info)
        self.assertEqual(result["operations"], OPERATIONS)
        self.assertGreater(result["faults"], 0, "faults were injected")
        self.assertGreater(result["fault_kinds"]["interrupted push"], 0)
        self.assertEqual(result["fault_kinds"].get("expire_delta"), 1, "one delta reset")
        self.assertEqual(result["problems"]["duplicates"], [])
        self.assertEqual(result["problems"]["lost"], [])
        self.assertEqual(result["problems"]["differ"], [])
