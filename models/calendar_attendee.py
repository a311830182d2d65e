# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""An internal attendee's answer given in Odoo goes to Outlook from their own mailbox."""

from odoo import models

from ..services.constants import CTX_INBOUND


class CalendarAttendee(models.Model):
    _inherit = "calendar.attendee"

    def do_tentative(self):
        result = super().do_tentative()
        self._o365_answered("tentative")
        return result

    def do_accept(self):
        result = super().do_accept()
        self._o365_answered("accepted")
        return result

    def do_decline(self):
        result = super().do_decline()
        self._o365_answered("declined")
        return result

    def _o365_answered(self, state):
        """Queue the current user's own answers (never anyone else's: each answer leaves
        from the answering attendee's mailbox)."""
        if self.env.context.get(CTX_INBOUND) or not self:
            return
        self.env["office365.meeting.answer"]._o365_queue(self, state)
