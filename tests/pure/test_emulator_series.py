"""The emulator's series and Teams meetings, as the recurring/online meeting push uses them."""

WEEKLY = {
    "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
    "range": {
        "type": "numbered",
        "startDate": "2027-03-15",
        "numberOfOccurrences": 4,
        "recurrenceTimeZone": "Romance Standard Time",
    },
}


def _series(graph, **extra):
    created = graph.post(
        "/me/events",
        json={
            "subject": "Weekly",
            "start": {"dateTime": "2027-03-15T10:00:00", "timeZone": "Europe/Brussels"},
            "end": {"dateTime": "2027-03-15T11:00:00", "timeZone": "Europe/Brussels"},
            "recurrence": WEEKLY,
            **extra,
        },
    )
    assert created.status_code == 201, created.text
    return created.json()


def _instances(graph, master_id):
    answer = graph.get(
        f"/me/events/{master_id}/instances",
        params={"startDateTime": "2027-03-01T00:00:00Z", "endDateTime": "2027-05-01T00:00:00Z"},
    )
    assert answer.status_code == 200, answer.text
    return sorted(answer.json()["value"], key=lambda ev: ev["originalStart"])


def test_series_keeps_local_hour_across_dst_and_takes_exceptions(graph):
    master = _series(graph)
    assert master["type"] == "seriesMaster"
    instances = _instances(graph, master["id"])
    # 10:00 Brussels: 09:00 UTC before the change of 28 March 2027, 08:00 after it.
    assert [i["start"]["dateTime"][:16] for i in instances] == [
        "2027-03-15T09:00",
        "2027-03-22T09:00",
        "2027-03-29T08:00",
        "2027-04-05T08:00",
    ]
    assert {i["type"] for i in instances} == {"occurrence"}
    patched = graph.patch(f"/me/events/{instances[1]['id']}", json={"subject": "Moved"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["type"] == "exception"
    deleted = graph.delete(f"/me/events/{instances[2]['id']}")
    assert deleted.status_code == 204
    after = _instances(graph, master["id"])
    assert [i["originalStart"][:16] for i in after] == [
        "2027-03-15T09:00",
        "2027-03-22T09:00",
        "2027-04-05T08:00",
    ]
    assert [i["type"] for i in after] == ["occurrence", "exception", "occurrence"]
    assert after[1]["subject"] == "Moved"


def test_online_meeting_has_a_join_url_that_stays(graph):
    event = _series(graph, isOnlineMeeting=True, onlineMeetingProvider="teamsForBusiness")
    join = event["onlineMeeting"]["joinUrl"]
    assert join.startswith("https://")
    # resources/event.md: later changes of isOnlineMeeting are ignored.
    patched = graph.patch(f"/me/events/{event['id']}", json={"isOnlineMeeting": False})
    assert patched.json()["isOnlineMeeting"] is True
    assert patched.json()["onlineMeeting"]["joinUrl"] == join


def test_no_online_meeting_without_the_provider(emulator, graph):
    emulator.mailbox("alice@example.com").online_meeting_providers = []
    calendar = graph.get("/me/calendar").json()
    assert calendar["allowedOnlineMeetingProviders"] == []
    event = _series(graph, isOnlineMeeting=True, onlineMeetingProvider="teamsForBusiness")
    assert event["isOnlineMeeting"] is False
    assert event["onlineMeeting"] is None
