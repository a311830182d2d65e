# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The "Open activity" link of an Outlook event: opens the activity itself in Odoo.

The link is in the event (``services/mapping_activity.activity_url``), so anybody the event is
shown to may follow it: the route is for signed-in users (others are sent to the login page
first) and answers 404 to a user who cannot read the activity, as for one that does not exist,
so the link tells nothing about activities the user may not see.
"""

from werkzeug.exceptions import NotFound

from odoo import http
from odoo.exceptions import AccessError
from odoo.http import request

from ..services.mapping_activity import ACTIVITY_PATH

# The activity's own form (with its "Open Document" button), in the web client.
ACTIVITY_ACTION = "office365_calendar_sync.mail_activity_action_o365_open"
MAX_ID = 2**31 - 1  # PostgreSQL's integer: a larger id is no record (and no SQL error)


class Office365Activity(http.Controller):
    @http.route(f"{ACTIVITY_PATH}/<int:activity_id>", type="http", auth="user", methods=["GET"])
    def open_activity(self, activity_id):
        if activity_id > MAX_ID:
            raise NotFound()
        activity = request.env["mail.activity"].with_context(active_test=False)
        activity = activity.browse(activity_id).exists()
        if not activity:
            raise NotFound()
        try:
            activity.check_access("read")
        except AccessError:
            raise NotFound() from None
        # The web client's classic address works whatever its path prefix (/odoo in Odoo 18).
        return request.redirect(
            f"/web#action={ACTIVITY_ACTION}&model=mail.activity&id={activity.id}&view_type=form"
        )
