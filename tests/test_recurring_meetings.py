# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Recurring Odoo meetings as one Outlook series, checked over Graph (the emulator's API)."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from odoo.tests import tagged

from ..services.recurrence import occurrence_key
from .common import Office365Case

BRUSSELS = ZoneInfo("Europe/Brussels")
UTC = ZoneInfo("UTC")


def next_dst_change(after):
    """The first day after ``after`` on which Brussels changes its UTC offset (spring or
    autumn): the series below cross it, so their occurrences must keep their local hour."""
    day = after
    while True:
        noon = datetime.combine(day, time(12), BRUSSELS)
        following = datetime.combine(day + timedelta(days=1), time(12), BRUSSELS)
        if noon.utcoffset() != following.utcoffset():
            return day + timedelta(days=1)
        day += timedelta(days=1)


def brussels(day, hour):
    """Naive UTC datetime (as Odoo stores it) of ``hour``:00 in Brussels on ``day``."""
    return datetime.combine(day, time(hour), BRUSSELS).astimezone(UTC).replace(tzinfo=None)


@tagged("post_install", "-at_install")
class TestRecurringMeetings(Office365Case):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.alice, cls.alice_box = cls._o365_user(
            "rec_alice", options=("activities",), groups="base.group_user"
        )
        cls.bob, cls.bob_box = cls._o365_user("rec_bob")
        # Weekly on Mondays, the first one two weeks before the first Brussels DST change at
        # least two weeks ahead: inside the sync window, two occurrences before the change and
        # the rest after it.
        change = next_dst_change(date.today() + timedelta(days=14))
        sunday = change - timedelta(days=(change.weekday() + 1) % 7)
        cls.first_monday = sunday - timedelta(days=13)

    def setUp(self):
        super().setUp()
        for mailbox in self.emulator.mailboxes.values():
            mailbox.events.clear()
            mailbox.sync_states.clear()
            mailbox.categories.clear()
        self.o365_forget_category_checks()

    # ------------------------------------------------------------------
    def _weekly(self, count=6, name="Weekly review", **vals):
        values = {
            "name": name,
            "start": brussels(self.first_monday, 10),
            "stop": brussels(self.first_monday, 11),
            "user_id": self.alice.id,
            "location": "Room 1",
            "partner_ids": [(6, 0, (self.alice.partner_id | self.bob.partner_id).ids)],
            "recurrency": True,
            "rrule_type": "weekly",
            "interval": 1,
            "mon": True,
            "end_type": "count",
            "count": count,
            "event_tz": "Europe/Brussels",
        }
        values.update(vals)
        event = self.env["calendar.event"].with_user(self.alice).create(values).sudo()
        return event.recurrence_id

    def _events(self, recurrence):
        return recurrence.calendar_event_ids.sorted("start")

    def _link(self, record):
        return (
            self.env["office365.link"]
            .sudo()
            .search([("res_model", "=", record._name), ("res_id", "=", record.id)])
        )

    def _graph(self):
        return self.alice._o365_account()._o365_graph_client()

    def _masters(self):
        """The series masters and single events of Alice's calendar, over Graph."""
        client = self._graph()
        events = client.get(f"{client.root}/events", params={"$top": "100"})["value"]
        return [ev for ev in events if ev["type"] == "seriesMaster"], [
            ev for ev in events if ev["type"] == "singleInstance"
        ]

    def _instances(self, master_id, weeks=12):
        client = self._graph()
        low = datetime.combine(self.first_monday - timedelta(days=1), time())
        high = low + timedelta(weeks=weeks)
        page = client.get(
            f"{client.root}/events/{master_id}/instances",
            params={
                "startDateTime": low.isoformat() + "Z",
                "endDateTime": high.isoformat() + "Z",
                "$top": "100",
            },
            headers={"Prefer": 'outlook.timezone="UTC"'},
        )
        return sorted(page["value"], key=lambda ev: ev["originalStart"])

    @staticmethod
    def _utc(graph_time):
        return datetime.fromisoformat(graph_time["dateTime"][:19])

    def _mondays(self, count):
        return [self.first_monday + timedelta(weeks=n) for n in range(count)]

    # ------------------------------------------------------------------
    def test_series_with_exceptions_and_cancelled_occurrence(self):
        """Done when: a weekly meeting with two exceptions and a cancelled occurrence is one
        Outlook series with those exceptions, and keeps 10:00 Brussels across DST."""
        rec = self._weekly(count=6)
        events = self._events(rec)
        self.assertEqual(len(events), 6)
        mondays = self._mondays(6)
        events[1].with_user(self.alice).write(
            {
                "name": "Weekly review (board)",
                "location": "Board room",
                "recurrence_update": "self_only",
            }
        )
        events[4].with_user(self.alice).write(
            {
                "start": brussels(mondays[4], 14),
                "stop": brussels(mondays[4], 15),
                "recurrence_update": "self_only",
            }
        )
        events[2].with_user(self.alice).unlink()
        self.o365_sync(self.alice)

        masters, singles = self._masters()
        self.assertEqual(len(masters), 1, "one series in Outlook")
        self.assertFalse(singles, "no meeting of the recurrence sent as a single event")
        master = masters[0]
        self.assertEqual(self._link(rec).event_id, master["id"])
        self.assertEqual(master["recurrence"]["pattern"]["type"], "weekly")
        self.assertEqual(master["recurrence"]["pattern"]["daysOfWeek"], ["monday"])
        self.assertEqual(master["recurrence"]["range"]["type"], "numbered")
        self.assertEqual(master["recurrence"]["range"]["numberOfOccurrences"], 6)
        self.assertEqual(master["recurrence"]["range"]["startDate"], mondays[0].isoformat())

        instances = self._instances(master["id"])
        by_day = {occurrence_key(inst["originalStart"]).date(): inst for inst in instances}
        self.assertEqual(
            sorted(by_day), [m for i, m in enumerate(mondays) if i != 2], "one occurrence cancelled"
        )
        # Every occurrence at 10:00 Brussels, on both sides of the DST change.
        for i, monday in enumerate(mondays):
            if i in (2, 4):
                continue
            inst = by_day[monday]
            self.assertEqual(self._utc(inst["start"]), brussels(monday, 10), monday)
        self.assertEqual(by_day[mondays[1]]["type"], "exception")
        self.assertEqual(by_day[mondays[1]]["subject"], "Meeting: Weekly review (board)")
        self.assertEqual(by_day[mondays[1]]["location"]["displayName"], "Board room")
        self.assertEqual(by_day[mondays[4]]["type"], "exception")
        self.assertEqual(self._utc(by_day[mondays[4]]["start"]), brussels(mondays[4], 14))
        for i in (0, 3, 5):
            self.assertEqual(by_day[mondays[i]]["type"], "occurrence", mondays[i])
        # Each Odoo meeting is linked to its own occurrence.
        for event in self._events(rec):
            link = self._link(event)
            self.assertEqual(link.state, "synced")
            self.assertIn(link.event_id, {i["id"] for i in instances})
        self.assertEqual(len(set(self._events(rec).mapped(lambda ev: self._link(ev).event_id))), 5)

        # Afterwards: one more occurrence edited and one deleted in Odoo.
        events = self._events(rec)
        events[0].with_user(self.alice).write(
            {"location": "Room 9", "recurrence_update": "self_only"}
        )
        events[-1].with_user(self.alice).unlink()
        self.o365_sync(self.alice)
        instances = self._instances(master["id"])
        by_day = {occurrence_key(inst["originalStart"]).date(): inst for inst in instances}
        self.assertNotIn(mondays[5], by_day)
        self.assertEqual(by_day[mondays[0]]["type"], "exception")
        self.assertEqual(by_day[mondays[0]]["location"]["displayName"], "Room 9")
        self.assertEqual(by_day[mondays[3]]["type"], "occurrence")
        self.assertEqual(len(self._masters()[0]), 1)

    def test_series_push_is_a_constant_number_of_requests(self):
        """The series' push costs the same requests for 4 or 30 occurrences."""
        counts = []
        # The first push of the mailbox also checks our Outlook category: not counted.
        for count in (4, 4, 30):
            for mailbox in self.emulator.mailboxes.values():
                mailbox.events.clear()
            self._weekly(count=count, name=f"Stand-up x{count}")
            self.emulator.reset_counters()
            self.o365_sync(self.alice)
            graph = [r for r in self.emulator.requests if r.path.startswith("/v1.0")]
            counts.append(len(graph))
            masters, singles = self._masters()
            self.assertEqual(len(masters), 1)
            self.assertFalse(singles)
            self.assertEqual(len(self._instances(masters[0]["id"], weeks=40)), count)
            # A clean slate for the next size: forget the links, then the meetings.
            self.env["office365.link"].sudo().search([]).unlink()
            self.env["calendar.recurrence"].sudo().search([]).calendar_event_ids.unlink()
        self.assertEqual(counts[1], counts[2], counts)

    def test_this_and_following(self):
        """Odoo splits the recurrence: the old series ends, a new one starts."""
        rec = self._weekly(count=6)
        self.o365_sync(self.alice)
        old_master = self._link(rec).event_id
        mondays = self._mondays(6)
        events = self._events(rec)
        events[3].with_user(self.alice).write(
            {
                "start": brussels(mondays[3], 15),
                "stop": brussels(mondays[3], 16),
                "recurrence_update": "future_events",
            }
        )
        new_rec = events[3].recurrence_id
        self.assertNotEqual(new_rec, rec)
        self.o365_sync(self.alice)

        masters, singles = self._masters()
        self.assertFalse(singles)
        self.assertEqual(len(masters), 2, "the old series and the new one")
        old = next(m for m in masters if m["id"] == old_master)
        new = next(m for m in masters if m["id"] != old_master)
        self.assertEqual(self._link(new_rec).event_id, new["id"])
        old_days = [occurrence_key(i["originalStart"]).date() for i in self._instances(old["id"])]
        self.assertEqual(old_days, mondays[:3])
        new_instances = self._instances(new["id"])
        self.assertEqual(
            [occurrence_key(i["originalStart"]).date() for i in new_instances], mondays[3:]
        )
        for inst, monday in zip(new_instances, mondays[3:], strict=True):
            self.assertEqual(self._utc(inst["start"]), brussels(monday, 15))
        for event in self._events(new_rec):
            self.assertIn(self._link(event).event_id, {i["id"] for i in new_instances})

    def test_organizer_edits_series_in_outlook(self):
        """The organizer moves the series to 14:00 and to Mondays and Wednesdays in Outlook:
        the Odoo meetings follow, and nothing goes back."""
        rec = self._weekly(count=4)
        self.o365_sync(self.alice)
        master_id = self._link(rec).event_id
        mondays = self._mondays(4)
        master = self.alice_box.get(master_id)
        recurrence = dict(master["recurrence"])
        recurrence["pattern"] = dict(recurrence["pattern"], daysOfWeek=["monday", "wednesday"])
        recurrence["range"] = dict(recurrence["range"], numberOfOccurrences=4)
        self.alice_box.update_event(
            master_id,
            {
                "start": {"dateTime": f"{mondays[0]}T14:00:00", "timeZone": "Europe/Brussels"},
                "end": {"dateTime": f"{mondays[0]}T15:00:00", "timeZone": "Europe/Brussels"},
                "recurrence": recurrence,
            },
        )
        self.emulator.reset_counters()
        self.o365_sync(self.alice)
        new_rec = (
            self.env["calendar.event"]
            .sudo()
            .search([("name", "=", "Weekly review"), ("user_id", "=", self.alice.id)])
            .recurrence_id
        )
        self.assertEqual(len(new_rec), 1)
        self.assertTrue(new_rec.mon and new_rec.wed)
        self.assertEqual(self._link(new_rec).event_id, master_id, "the same Outlook series")
        events = self._events(new_rec)
        expected = [
            mondays[0],
            mondays[0] + timedelta(days=2),
            mondays[1],
            mondays[1] + timedelta(days=2),
        ]
        self.assertEqual([ev.start for ev in events], [brussels(d, 14) for d in expected])
        self.emulator.reset_counters()
        self.o365_sync(self.alice)
        writes = [
            r
            for r in self.emulator.requests
            if r.method in ("PATCH", "DELETE")
            or (r.method == "POST" and not r.path.endswith("/$batch"))
        ]
        self.assertFalse(writes, "nothing sent back to Outlook")
        masters, singles = self._masters()
        self.assertEqual([m["id"] for m in masters], [master_id])
        self.assertFalse(singles)
        instances = self._instances(master_id)
        self.assertEqual(len(instances), 4)
        self.assertEqual({i["type"] for i in instances}, {"occurrence"})
        for event in events:
            self.assertIn(self._link(event).event_id, {i["id"] for i in instances})
