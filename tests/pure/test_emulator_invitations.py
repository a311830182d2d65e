"""Emulator: meetings between mailboxes of the tenant (invitations, responses, updates,
cancellations), through the HTTP API of each mailbox."""

from urllib.parse import quote

import pytest
from conftest import EMULATOR_CLIENT_ID, GraphSession

from emulator import GraphEmulator


def _event(subject="Review", start="2031-03-10T09:00:00", end="2031-03-10T10:00:00", **extra):
    payload = {
        "subject": subject,
        "start": {"dateTime": start, "timeZone": "UTC"},
        "end": {"dateTime": end, "timeZone": "UTC"},
        "body": {"contentType": "html", "content": "<p>Agenda</p>"},
        "location": {"displayName": "Room 1"},
    }
    payload.update(extra)
    return payload


def _who(*emails):
    return [{"emailAddress": {"address": e, "name": e}, "type": "required"} for e in emails]


def _error(response, status, code):
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def _delta(session, token=None):
    """One whole calendarView delta round: (events, removed ids, delta link)."""
    url = token or (
        "/me/calendarView/delta?startDateTime=2031-01-01T00:00:00Z&endDateTime=2031-12-31T00:00:00Z"
    )
    events, removed = [], []
    while True:
        page = session.get(url).json()
        for item in page["value"]:
            (removed if "@removed" in item else events).append(
                item["id"] if "@removed" in item else item
            )
        if "@odata.deltaLink" in page:
            return events, removed, page["@odata.deltaLink"]
        url = page["@odata.nextLink"]


@pytest.fixture
def tenant(emulator):
    """alice (organizer), bob and carol (attendees): one signed-in session each."""
    sessions = {}
    for name in ("alice", "bob", "carol"):
        email = f"{name}@example.com"
        emulator.add_mailbox(email, name.title())
        token = emulator.issue_tokens(email, EMULATOR_CLIENT_ID)["access_token"]
        sessions[name] = GraphSession(emulator, token)
    yield sessions
    for session in sessions.values():
        session.close()


def _url(event_id, action=""):
    return "/me/events/" + quote(event_id, safe="") + (f"/{action}" if action else "")


def _copy(session):
    events = session.get("/me/events").json()["value"]
    assert len(events) == 1, events
    return events[0]


def test_meeting_request_lands_in_each_internal_attendee_mailbox(tenant):
    alice, bob, carol = tenant["alice"], tenant["bob"], tenant["carol"]
    _b, _r, bob_link = _delta(bob)
    event = alice.post(
        "/me/events",
        json=_event(
            attendees=_who("bob@example.com", "carol@example.com", "dan@client.com"),
            categories=["Odoo"],
            singleValueExtendedProperties=[
                {"id": "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name Ref", "value": "x"}
            ],
            transactionId="tx-1",
        ),
    ).json()
    for session in (bob, carol):
        copy = _copy(session)
        assert copy["id"] != event["id"]
        assert copy["changeKey"] != event["changeKey"]
        assert copy["iCalUId"] == event["iCalUId"]
        assert copy["isOrganizer"] is False
        assert copy["responseStatus"]["response"] == "notResponded"
        assert copy["showAs"] == "tentative"
        assert copy["organizer"]["emailAddress"]["address"] == "alice@example.com"
        assert (copy["subject"], copy["location"]["displayName"]) == ("Review", "Room 1")
        assert "Agenda" in copy["body"]["content"]
        # per-mailbox properties never travel in a meeting request
        assert copy["categories"] == [] and "transactionId" not in copy
        expanded = session.get(
            _url(copy["id"]), params={"$expand": "singleValueExtendedProperties"}
        ).json()
        assert expanded["singleValueExtendedProperties"] == []
        # only the organizer's copy tracks responses
        assert {a["status"]["response"] for a in copy["attendees"]} == {"none"}
    # the copy appears in the attendee's delta
    events, _removed, _link = _delta(bob, bob_link)
    assert [e["iCalUId"] for e in events] == [event["iCalUId"]]


def test_hide_attendees_shows_each_attendee_only_themself(tenant):
    tenant["alice"].post(
        "/me/events",
        json=_event(attendees=_who("bob@example.com", "carol@example.com"), hideAttendees=True),
    )
    copy = _copy(tenant["bob"])
    assert [a["emailAddress"]["address"] for a in copy["attendees"]] == ["bob@example.com"]


def test_responses_reach_the_organizer_copy(tenant):
    alice, bob, carol = tenant["alice"], tenant["bob"], tenant["carol"]
    event = alice.post(
        "/me/events", json=_event(attendees=_who("bob@example.com", "carol@example.com"))
    ).json()
    _e, _r, alice_link = _delta(alice)
    bob_copy = _copy(bob)
    answer = bob.post(
        _url(bob_copy["id"], "accept"), json={"comment": "See you", "sendResponse": True}
    )
    assert answer.status_code == 202 and not answer.content
    mine = bob.get(_url(bob_copy["id"])).json()
    assert mine["responseStatus"]["response"] == "accepted"
    assert mine["showAs"] == "busy"
    organizer = alice.get(_url(event["id"])).json()
    status = {a["emailAddress"]["address"]: a["status"] for a in organizer["attendees"]}
    assert status["bob@example.com"]["response"] == "accepted"
    assert status["bob@example.com"]["time"] != "0001-01-01T00:00:00Z"
    assert status["carol@example.com"]["response"] == "none"
    assert organizer["changeKey"] != event["changeKey"]
    events, _removed, alice_link = _delta(alice, alice_link)
    assert [e["id"] for e in events] == [event["id"]]
    # without sendResponse the organizer never learns the answer
    carol_copy = _copy(carol)
    assert (
        carol.post(
            _url(carol_copy["id"], "tentativelyAccept"), json={"sendResponse": False}
        ).status_code
        == 202
    )
    assert carol.get(_url(carol_copy["id"])).json()["responseStatus"]["response"] == (
        "tentativelyAccepted"
    )
    organizer = alice.get(_url(event["id"])).json()
    status = {a["emailAddress"]["address"]: a["status"] for a in organizer["attendees"]}
    assert status["carol@example.com"]["response"] == "none"
    assert _delta(alice, alice_link)[0] == []


def test_decline_removes_the_copy_and_answers_the_organizer(tenant):
    alice, bob = tenant["alice"], tenant["bob"]
    event = alice.post("/me/events", json=_event(attendees=_who("bob@example.com"))).json()
    copy = _copy(bob)
    _e, _r, bob_link = _delta(bob)
    assert bob.post(_url(copy["id"], "decline"), json={"comment": "No"}).status_code == 202
    _error(bob.get(_url(copy["id"])), 404, "ErrorItemNotFound")
    _events, removed, _link = _delta(bob, bob_link)
    assert removed == [copy["id"]]
    organizer = alice.get(_url(event["id"])).json()
    assert organizer["attendees"][0]["status"]["response"] == "declined"
    # an attendees-only update does not bring it back; a real change of the meeting does
    alice.patch(_url(event["id"]), json={"attendees": _who("bob@example.com", "dan@client.com")})
    assert bob.get("/me/events").json()["value"] == []
    alice.patch(_url(event["id"]), json={"subject": "Review (new time)"})
    assert _copy(bob)["subject"] == "Review (new time)"


def test_response_parameters_are_checked(tenant):
    alice, bob = tenant["alice"], tenant["bob"]
    event = alice.post(
        "/me/events",
        json=_event(attendees=_who("bob@example.com"), allowNewTimeProposals=False),
    ).json()
    copy = _copy(bob)
    proposal = {
        "start": {"dateTime": "2031-03-11T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2031-03-11T10:00:00", "timeZone": "UTC"},
    }
    _error(
        bob.post(_url(copy["id"], "decline"), json={"proposedNewTime": proposal}),
        400,
        "ErrorInvalidRequest",
    )
    _error(
        bob.post(_url(copy["id"], "accept"), json={"proposedNewTime": proposal}), 400, "BadRequest"
    )
    _error(bob.post(_url(copy["id"], "accept"), json={"sendResponse": 3}), 400, "RequestBodyRead")
    _error(alice.post(_url(event["id"], "accept"), json={}), 400, "ErrorInvalidRequest")
    # Graph reads the string "false" for a Boolean parameter
    assert bob.post(_url(copy["id"], "accept"), json={"sendResponse": "false"}).status_code == 202
    organizer = alice.get(_url(event["id"])).json()
    assert organizer["attendees"][0]["status"]["response"] == "none"


def test_organizer_updates_reach_the_copies(tenant):
    alice, bob, carol = tenant["alice"], tenant["bob"], tenant["carol"]
    event = alice.post("/me/events", json=_event(attendees=_who("bob@example.com"))).json()
    copy = _copy(bob)
    bob.post(_url(copy["id"], "accept"), json={})
    _e, _r, bob_link = _delta(bob)
    alice.patch(
        _url(event["id"]),
        json={
            "subject": "Review (moved)",
            "start": {"dateTime": "2031-03-12T14:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2031-03-12T15:00:00", "timeZone": "UTC"},
            "location": {"displayName": "Room 2"},
            "categories": ["Odoo"],
        },
    )
    events, _removed, bob_link = _delta(bob, bob_link)
    assert [e["id"] for e in events] == [copy["id"]]
    moved = events[0]
    assert (moved["subject"], moved["location"]["displayName"]) == ("Review (moved)", "Room 2")
    assert moved["start"]["dateTime"].startswith("2031-03-12T14:00:00")
    assert moved["categories"] == []
    # adding carol sends her a request; the others' copies keep their attendee list
    alice.patch(_url(event["id"]), json={"attendees": _who("bob@example.com", "carol@example.com")})
    assert _copy(carol)["subject"] == "Review (moved)"
    assert _delta(bob, bob_link)[0] == []
    # removing carol sends her a cancellation
    alice.patch(_url(event["id"]), json={"attendees": _who("bob@example.com")})
    cancelled = _copy(carol)
    assert cancelled["isCancelled"] is True
    assert cancelled["subject"] == "Canceled: Review (moved)"
    assert _copy(bob)["isCancelled"] is False


@pytest.mark.parametrize("how", ["delete", "cancel"])
def test_cancellation_marks_the_copies_cancelled(tenant, how):
    alice, bob = tenant["alice"], tenant["bob"]
    event = alice.post("/me/events", json=_event(attendees=_who("bob@example.com"))).json()
    copy = _copy(bob)
    _e, _r, bob_link = _delta(bob)
    if how == "delete":
        assert alice.delete(_url(event["id"])).status_code == 204
    else:
        assert alice.post(_url(event["id"], "cancel"), json={"Comment": "Sorry"}).status_code == 202
    events, removed, _link = _delta(bob, bob_link)
    assert removed == []
    assert [e["id"] for e in events] == [copy["id"]]
    assert events[0]["isCancelled"] is True
    assert events[0]["subject"] == "Canceled: Review"
    # it stays until the attendee removes it
    assert bob.delete(_url(copy["id"])).status_code == 204
    assert bob.get("/me/events").json()["value"] == []


def test_recurring_meeting_copies_occurrences_and_answers(emulator, tenant):
    alice, bob = tenant["alice"], tenant["bob"]
    series = alice.post(
        "/me/events",
        json=_event(
            "Weekly",
            start="2031-03-10T09:00:00",
            end="2031-03-10T09:30:00",
            attendees=_who("bob@example.com", "dan@client.com"),
            recurrence={
                "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                "range": {"type": "numbered", "startDate": "2031-03-10", "numberOfOccurrences": 4},
            },
        ),
    ).json()
    window = {"startDateTime": "2031-03-01T00:00:00Z", "endDateTime": "2031-04-30T00:00:00Z"}
    mine = alice.get("/me/calendarView", params=window).json()["value"]
    theirs = bob.get("/me/calendarView", params=window).json()["value"]
    assert len(mine) == len(theirs) == 4
    assert [o["iCalUId"] for o in mine] == [o["iCalUId"] for o in theirs]
    assert [o["originalStart"] for o in mine] == [o["originalStart"] for o in theirs]
    assert {o["id"] for o in mine}.isdisjoint({o["id"] for o in theirs})
    # the organizer moves the second occurrence and cancels the third
    alice.patch(
        _url(mine[1]["id"]),
        json={
            "start": {"dateTime": "2031-03-17T11:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2031-03-17T11:30:00", "timeZone": "UTC"},
        },
    )
    assert alice.post(_url(mine[2]["id"], "cancel"), json={}).status_code == 202
    theirs = bob.get("/me/calendarView", params=window).json()["value"]
    assert len(theirs) == 4
    assert theirs[1]["start"]["dateTime"].startswith("2031-03-17T11:00:00")
    assert theirs[1]["type"] == "exception"
    assert [o["isCancelled"] for o in theirs] == [False, False, True, False]
    # bob declines the last occurrence only: it leaves his calendar, the organizer's
    # occurrence records the answer
    assert bob.post(_url(theirs[3]["id"], "decline"), json={}).status_code == 202
    theirs = bob.get("/me/calendarView", params=window).json()["value"]
    assert len(theirs) == 3
    mine = alice.get("/me/calendarView", params=window).json()["value"]
    last = mine[-1]
    bob_status = [
        a["status"]["response"]
        for a in last["attendees"]
        if a["emailAddress"]["address"] == "bob@example.com"
    ]
    assert bob_status == ["declined"]
    assert series["id"] in {o["seriesMasterId"] for o in mine}


def test_invitations_can_be_switched_off_and_survive_a_restart(emulator, tenant, tmp_path):
    alice, bob = tenant["alice"], tenant["bob"]
    emulator.invitations.enabled = False
    alice.post("/me/events", json=_event(attendees=_who("bob@example.com")))
    assert bob.get("/me/events").json()["value"] == []
    emulator.invitations.enabled = True
    event = alice.post("/me/events", json=_event("Kept", attendees=_who("bob@example.com"))).json()
    state = str(tmp_path / "state.json")
    emulator.save_state(state)
    again = GraphEmulator()
    again.load_state(state)
    organizer = again.mailbox("alice@example.com")
    organizer.delete_event(event["id"])
    copies = list(again.mailbox("bob@example.com").events.values())
    assert [c["isCancelled"] for c in copies if c["iCalUId"] == event["iCalUId"]] == [True]
