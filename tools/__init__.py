# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The developer tools (tests, demo, benchmarks, soak). Run as scripts; a package only so that
``odoo shell`` and the Odoo tests import them as ``odoo.addons.office365_calendar_sync.tools``.
Nothing of the addon imports them."""
