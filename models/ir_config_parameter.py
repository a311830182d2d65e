# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, models, tools
from odoo.tools import SQL, frozendict

from ..services.constants import PARAM


class IrConfigParameter(models.Model):
    _inherit = "ir.config_parameter"

    @api.model
    @tools.ormcache()
    def _o365_params(self):
        """Every parameter of this addon (``office365_calendar_sync.*``) and the database's
        uuid, in one query, cached as ``get_param`` caches each one (Odoo clears this cache
        whenever a parameter is written). A sync run reads a few dozen of them: one cache
        look-up instead of one per parameter."""
        self.flush_model(["key", "value"])  # a parameter written in this transaction counts
        self.env.cr.execute(
            SQL(
                "SELECT key, value FROM ir_config_parameter "
                "WHERE starts_with(key, %s) OR key = 'database.uuid'",
                PARAM,
            )
        )
        return frozendict(self.env.cr.fetchall())
