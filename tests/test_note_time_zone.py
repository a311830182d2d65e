# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Times in the notes of logged meetings: in the mailbox user's time zone, which they name."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from odoo import fields
from odoo.tests import new_test_user, tagged
from odoo.tools import html2plaintext

from .common import Office365Case

BRUSSELS = ZoneInfo("Europe/Brussels")


@tagged("post_install", "-at_install")
class TestNoteTimeZone(Office365Case):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        params = cls.env["ir.config_parameter"].sudo()
        params.set_param("office365_calendar_sync.internal_domains", "example.com")
        params.set_param("office365_calendar_sync.create_contacts", "0")
        # _o365_user gives the user Europe/Brussels, as the demo does.
        cls.alice, cls.alice_box = cls._o365_user("tz_alice", options=("events",))
        cls.no_tz = new_test_user(cls.env, login="tz_none", tz=False)
        cls.contact = cls.env["res.partner"].create(
            {"name": "Ann Lee", "email": "ann.lee@acme.example"}
        )

    def _meeting(self, start, stop, user=None):
        """A logged meeting of ``user``'s mailbox at these naive UTC times."""
        return (
            self.env["office365.inbound.event"]
            .sudo()
            .create(
                {
                    "name": "Quarterly review",
                    "ical_uid": f"uid-{start.isoformat()}",
                    "occurrence_key": "",
                    "start": start,
                    "stop": stop,
                    "mailbox_ids": [
                        (
                            0,
                            0,
                            {
                                "user_id": (user or self.alice).id,
                                "outlook_event_id": f"E-{start.isoformat()}",
                            },
                        )
                    ],
                }
            )
        )

    def test_times_in_the_mailbox_users_zone_on_both_sides_of_dst(self):
        # Europe/Brussels leaves winter time (UTC+1) for summer time (UTC+2) on Sunday
        # 2027-03-28 at 02:00 local: the day before, on the day, and across the change.
        cases = [
            (datetime(2027, 3, 27, 9), datetime(2027, 3, 27, 10), "2027-03-27 10:00 - 11:00"),
            (datetime(2027, 3, 28, 9), datetime(2027, 3, 28, 10), "2027-03-28 11:00 - 12:00"),
            (
                datetime(2027, 3, 28, 0, 30),
                datetime(2027, 3, 28, 1, 30),
                "2027-03-28 01:30 UTC+01:00 - 03:30 UTC+02:00",
            ),
        ]
        for start, stop, expected in cases:
            meeting = self._meeting(start, stop)
            primary = meeting._o365_primary_user()
            self.assertEqual(primary, self.alice)
            self.assertEqual(meeting._o365_when(primary), f"{expected} (Europe/Brussels)")
            # The note of the logged activity says the same ("When" of the details).
            self.assertIn(f"{expected} (Europe/Brussels)", meeting._o365_details(primary))

    def test_user_without_time_zone_reads_utc(self):
        meeting = self._meeting(datetime(2027, 3, 28, 9), datetime(2027, 3, 28, 10), self.no_tz)
        self.assertEqual(meeting._o365_when(self.no_tz), "2027-03-28 09:00 - 10:00 (UTC)")

    def test_logged_activity_note_is_in_the_mailbox_users_zone(self):
        # Two days ahead at 09:00 UTC: inside the sync window whatever day the test runs; the
        # expected local time is computed for that day (winter or summer time).
        start = (fields.Datetime.now() + timedelta(days=2)).replace(
            hour=9, minute=0, second=0, microsecond=0
        )
        stop = start + timedelta(hours=1)
        self.alice_box.create_event(
            {
                "subject": "Quarterly review",
                "start": {"dateTime": start.isoformat(), "timeZone": "UTC"},
                "end": {"dateTime": stop.isoformat(), "timeZone": "UTC"},
                "attendees": [{"emailAddress": {"address": "ann.lee@acme.example"}}],
            }
        )
        self.o365_sync(self.alice, ["events"])
        activity = self.env["mail.activity"].search(
            [("res_model", "=", "res.partner"), ("res_id", "=", self.contact.id)]
        )
        self.assertTrue(activity)
        local = start.replace(tzinfo=ZoneInfo("UTC")).astimezone(BRUSSELS)
        local_stop = stop.replace(tzinfo=ZoneInfo("UTC")).astimezone(BRUSSELS)
        expected = f"{local:%Y-%m-%d %H:%M} - {local_stop:%H:%M} (Europe/Brussels)"
        for note in activity.mapped("note"):
            self.assertIn(expected, html2plaintext(note))
