# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The "Open activity" link of an Outlook event opens the activity, for its readers only."""

from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from ..services.mapping_activity import ACTIVITY_PATH
from .common import rpc_call
from .test_do_not_sync import next_monday
from .test_oauth import Office365HttpCase


@tagged("post_install", "-at_install")
class TestActivityLink(Office365HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # An HR officer's onboarding task on an employee: plain employees cannot read
        # employees (only their public view), so they cannot read the activity either.
        cls.officer, cls.officer_box = cls._o365_user(
            "link_officer", options=("activities",), groups="base.group_user,hr.group_hr_user"
        )
        cls.plain = new_test_user(cls.env, login="link_plain", groups="base.group_user")
        cls.portal = new_test_user(cls.env, login="link_portal", groups="base.group_portal")
        cls.employee = cls.env["hr.employee"].create({"name": "New Hire"})
        cls.activity = cls.env["mail.activity"].create(
            {
                "res_model_id": cls.env["ir.model"]._get_id("hr.employee"),
                "res_id": cls.employee.id,
                "activity_type_id": cls.env.ref("mail.mail_activity_data_todo").id,
                "summary": "Prepare the laptop",
                "date_deadline": next_monday(),
                "user_id": cls.officer.id,
            }
        )

    def _get(self, path):
        return self.url_open(path, allow_redirects=False)

    def _open_activity_href(self):
        """The "Open activity" address in the event the sync put in the officer's Outlook."""
        self.o365_sync(self.officer)
        events = self.o365_events(self.officer_box)
        self.assertEqual(len(events), 1)
        body = events[0]["body"]["content"]
        href = body.split('<a href="', 1)[1].split('"', 1)[0]
        self.assertIn("Open activity</a>", body)
        self.assertIn("Open document</a>", body)
        return href

    def test_the_event_link_opens_the_activity_form(self):
        href = self._open_activity_href()
        self.assertEqual(href, f"{self.base_url()}{ACTIVITY_PATH}/{self.activity.id}")
        self.authenticate("link_officer", "link_officer")
        answer = self._get(href)
        self.assertEqual(answer.status_code, 303)
        target = answer.headers["Location"]
        self.assertTrue(
            target.endswith(
                "/web#action=office365_calendar_sync.mail_activity_action_o365_open"
                f"&model=mail.activity&id={self.activity.id}&view_type=form"
            ),
            target,
        )
        action = self.env.ref("office365_calendar_sync.mail_activity_action_o365_open")
        self.assertEqual(action.res_model, "mail.activity")
        self.assertEqual(action.view_id, self.env.ref("mail.mail_activity_view_form"))

    def test_signed_out_visitor_is_sent_to_the_login_page(self):
        answer = self._get(f"{ACTIVITY_PATH}/{self.activity.id}")
        self.assertEqual(answer.status_code, 303)
        self.assertIn("/web/login", answer.headers["Location"])

    @mute_logger("odoo.http")
    def test_users_who_cannot_read_the_activity_get_404(self):
        for login in ("link_plain", "link_portal"):
            with self.subTest(login=login):
                self.authenticate(login, login)
                answer = self._get(f"{ACTIVITY_PATH}/{self.activity.id}")
                self.assertEqual(answer.status_code, 404)
                self.assertNotIn("Prepare the laptop", answer.text)
        # Assigned to the plain user: now they may read it (Odoo's rule for activities).
        self.activity.user_id = self.plain
        self.authenticate("link_plain", "link_plain")
        self.assertEqual(self._get(f"{ACTIVITY_PATH}/{self.activity.id}").status_code, 303)

    @mute_logger("odoo.http")
    def test_missing_or_absurd_ids_get_404(self):
        self.authenticate("link_officer", "link_officer")
        for path in (
            f"{ACTIVITY_PATH}/{self.activity.id + 100000}",
            f"{ACTIVITY_PATH}/99999999999999999999",
            f"{ACTIVITY_PATH}/abc",
            f"{ACTIVITY_PATH}/-1",
        ):
            with self.subTest(path=path):
                self.assertEqual(self._get(path).status_code, 404)

    # ------------------------------------------------------------------
    # Stop Syncing's question, attacked through RPC by another user
    # ------------------------------------------------------------------
    _rpc = rpc_call

    @mute_logger("odoo.http")
    def test_stop_question_refused_for_another_users_mailbox(self):
        self.o365_sync(self.officer)
        link = self.env["office365.link"].search([("user_id", "=", self.officer.id)])
        self.assertTrue(link.event_id)
        self.authenticate("link_plain", "link_plain")
        made = self._rpc(
            "office365.stop.wizard",
            "create",
            [{"user_id": self.officer.id, "option": "activities"}],
        )
        wizard_id = made.get("result")
        if wizard_id:
            wizard_id = wizard_id[0] if isinstance(wizard_id, list) else wizard_id
            for method in ("action_remove", "action_keep"):
                answer = self._rpc("office365.stop.wizard", method, [[wizard_id]])
                self.assertIn("error", answer, method)
        stopped = self._rpc(
            "res.users",
            "action_o365_stop",
            [[self.officer.id]],
            {"context": {"office365_calendar_sync_option": "activities"}},
        )
        self.assertIn("error", stopped)
        link.invalidate_recordset()
        self.assertTrue(self.officer._o365_settings().o365_activities_enabled)
        self.assertEqual((link.state, link.removing), ("synced", False))
        self.assertEqual(len(self.o365_events(self.officer_box)), 1)
