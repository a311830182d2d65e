"""Emulator: calendarView, delta rounds with real state, recurrence expansion, instances."""

from urllib.parse import quote

import pytest

WINDOW = {"startDateTime": "2026-05-01T00:00:00Z", "endDateTime": "2026-06-01T00:00:00Z"}


def _event(subject, start, end, tz="UTC", **extra):
    payload = {
        "subject": subject,
        "start": {"dateTime": start, "timeZone": tz},
        "end": {"dateTime": end, "timeZone": tz},
    }
    payload.update(extra)
    return payload


def _round(graph, first_url=None, params=None, page=None):
    """Follow a delta round to its deltaLink; returns (items, deltaLink, pages)."""
    headers = {"Prefer": "odata.maxpagesize=%d" % page} if page else {}
    response = graph.get(first_url or "/me/calendarView/delta", params=params, headers=headers)
    items, pages = [], 0
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        pages += 1
        items += body["value"]
        if "@odata.deltaLink" in body:
            assert "@odata.nextLink" not in body
            return items, body["@odata.deltaLink"], pages
        assert "$skiptoken=" in body["@odata.nextLink"]
        response = graph.get(body["@odata.nextLink"], headers=headers)


def test_delta_rounds_track_real_changes(emulator, graph):
    box = emulator.mailbox("alice@example.com")
    ids = [
        graph.post(
            "/me/events",
            json=_event(
                "E%d" % i, "2026-05-%02dT09:00:00" % (i + 1), "2026-05-%02dT10:00:00" % (i + 1)
            ),
        ).json()["id"]
        for i in range(5)
    ]
    graph.post("/me/events", json=_event("Outside", "2026-07-01T09:00:00", "2026-07-01T10:00:00"))

    items, delta_link, pages = _round(graph, params=WINDOW, page=2)
    assert pages == 3 and sorted(i["subject"] for i in items) == ["E0", "E1", "E2", "E3", "E4"]
    assert all(i["@odata.type"] == "#microsoft.graph.event" for i in items)
    assert "$deltatoken=" in delta_link

    unchanged, delta_link, _ = _round(graph, delta_link)
    assert unchanged == []

    graph.patch("/me/events/" + quote(ids[1], safe=""), json={"subject": "E1 renamed"})
    updated, delta_link, _ = _round(graph, delta_link)
    assert [(i["id"], i["subject"]) for i in updated] == [(ids[1], "E1 renamed")]

    graph.delete("/me/events/" + quote(ids[2], safe=""))
    box.create_event(_event("From Outlook", "2026-05-20T09:00:00", "2026-05-20T09:30:00"))
    graph.patch(
        "/me/events/" + quote(ids[3], safe=""),
        json={
            "start": {"dateTime": "2026-08-01T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-08-01T10:00:00", "timeZone": "UTC"},
        },
    )
    changes, delta_link, _ = _round(graph, delta_link)
    removed = sorted(i["id"] for i in changes if "@removed" in i)
    assert removed == sorted([ids[2], ids[3]])
    assert all(
        i["@removed"] == {"reason": "deleted"} and set(i) == {"@odata.type", "id", "@removed"}
        for i in changes
        if "@removed" in i
    )
    assert [i["subject"] for i in changes if "@removed" not in i] == ["From Outlook"]

    # An old delta link still works (the server keeps its state), a made-up one is gone.
    assert _round(graph, delta_link)[0] == []
    gone = graph.get("/me/calendarView/delta", params={"$deltatoken": "madeup"})
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "SyncStateNotFound"


def test_delta_page_size_default_and_prefer_timezone(emulator, graph):
    box = emulator.mailbox("alice@example.com")
    for i in range(23):
        box.create_event(
            _event("E%d" % i, "2026-05-10T%02d:00:00" % i, "2026-05-10T%02d:30:00" % i)
        )
    items, _, pages = _round(graph, params=WINDOW)
    assert len(items) == 23 and pages == 3  # default page of 10
    first = graph.get(
        "/me/calendarView/delta",
        params=WINDOW,
        headers={"Prefer": 'outlook.timezone="Pacific Standard Time", odata.maxpagesize=50'},
    )
    assert len(first.json()["value"]) == 23
    assert first.json()["value"][0]["start"]["timeZone"] == "Pacific Standard Time"
    assert "odata.maxpagesize=50" in first.headers["Preference-Applied"]
    missing = graph.get("/me/calendarView/delta")
    assert missing.status_code == 400 and missing.json()["error"]["code"] == (
        "ErrorInvalidParameter"
    )


@pytest.mark.parametrize(
    "option",
    [
        ("$expand", "singleValueExtendedProperties($filter=id eq 'String {0} Name x')"),
        ("$filter", "subject eq 'x'"),
        ("$orderby", "start/dateTime"),
        ("$search", '"x"'),
        ("$select", "subject"),
    ],
)
def test_delta_refuses_the_odata_options_graph_does_not_support(graph, option):
    # api-reference/v1.0/api/event-delta.md: "the delta function for calendarView doesn't
    # support $expand, $filter, $orderby, and $search"; "You cannot use $select".
    response = graph.get("/me/calendarView/delta", params=dict(WINDOW, **dict([option])))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "ErrorInvalidUrlQuery"
    assert option[0] in response.json()["error"]["message"]


def test_weekly_series_expands_into_occurrences(emulator, graph):
    # Every Monday and Wednesday 12:00-13:00 Brussels time, 6 occurrences from 2026-05-04.
    master = graph.post(
        "/me/events",
        json=_event(
            "Standup",
            "2026-05-04T12:00:00",
            "2026-05-04T13:00:00",
            "Europe/Brussels",
            recurrence={
                "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["Monday", "Wednesday"]},
                "range": {"type": "numbered", "startDate": "2026-05-04", "numberOfOccurrences": 6},
            },
        ),
    ).json()
    assert master["type"] == "seriesMaster"
    assert master["recurrence"]["range"]["recurrenceTimeZone"] == "Europe/Brussels"
    view = graph.get("/me/calendarView", params=dict(WINDOW, **{"$top": "50"})).json()["value"]
    assert [v["start"]["dateTime"][:16] for v in view] == [
        "2026-05-04T10:00",
        "2026-05-06T10:00",
        "2026-05-11T10:00",
        "2026-05-13T10:00",
        "2026-05-18T10:00",
        "2026-05-20T10:00",
    ]
    assert {v["type"] for v in view} == {"occurrence"}
    assert {v["seriesMasterId"] for v in view} == {master["id"]}
    assert len({v["iCalUId"] for v in view}) == 6  # different per occurrence

    # Delta includes the master and its occurrences.
    items, delta_link, _ = _round(graph, params=WINDOW, page=50)
    assert sorted(i["type"] for i in items) == ["occurrence"] * 6 + ["seriesMaster"]

    # Move one occurrence: it becomes an exception; delete another.
    occurrence = view[2]
    url = "/me/events/" + quote(occurrence["id"], safe="")
    assert graph.get(url).json()["type"] == "occurrence"
    moved = graph.patch(
        url,
        json={
            "start": {"dateTime": "2026-05-12T15:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-05-12T16:00:00", "timeZone": "UTC"},
        },
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["type"] == "exception" and moved.json()["id"] == occurrence["id"]
    assert graph.delete("/me/events/" + quote(view[4]["id"], safe="")).status_code == 204
    instances = graph.get(
        "/me/events/%s/instances" % quote(master["id"], safe=""), params=WINDOW
    ).json()["value"]
    assert [(i["type"], i["start"]["dateTime"][:16]) for i in instances] == [
        ("occurrence", "2026-05-04T10:00"),
        ("occurrence", "2026-05-06T10:00"),
        ("exception", "2026-05-12T15:00"),
        ("occurrence", "2026-05-13T10:00"),
        ("occurrence", "2026-05-20T10:00"),
    ]
    changes, _, _ = _round(graph, delta_link)
    assert view[4]["id"] in [c["id"] for c in changes if "@removed" in c]
    # An exception may not cross its neighbours.
    crossing = graph.patch(
        url,
        json={
            "start": {"dateTime": "2026-05-14T15:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-05-14T16:00:00", "timeZone": "UTC"},
        },
    )
    assert crossing.status_code == 400
    assert crossing.json()["error"]["code"] == "ErrorOccurrenceCrossingBoundary"
    # Deleting the master removes the whole series.
    graph.delete("/me/events/" + quote(master["id"], safe=""))
    assert graph.get("/me/calendarView", params=WINDOW).json()["value"] == []


def _starts(
    graph,
    recurrence,
    start="2026-01-05T09:00:00",
    end="2026-01-05T10:00:00",
    window=("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"),
    **extra,
):
    graph.post("/me/events", json=_event("R", start, end, recurrence=recurrence, **extra))
    params = {"startDateTime": window[0], "endDateTime": window[1], "$top": "1000"}
    return [
        v["start"]["dateTime"][:10]
        for v in graph.get("/me/calendarView", params=params).json()["value"]
    ]


def test_daily_every_other_day_until_end_date(graph):
    starts = _starts(
        graph,
        {
            "pattern": {"type": "daily", "interval": 2},
            "range": {"type": "endDate", "startDate": "2026-01-05", "endDate": "2026-01-12"},
        },
    )
    assert starts == ["2026-01-05", "2026-01-07", "2026-01-09", "2026-01-11"]


def test_absolute_monthly_numbered(graph):
    starts = _starts(
        graph,
        {
            "pattern": {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31},
            "range": {"type": "numbered", "startDate": "2026-01-31", "numberOfOccurrences": 3},
        },
        start="2026-01-31T09:00:00",
        end="2026-01-31T10:00:00",
    )
    assert starts == ["2026-01-31", "2026-02-28", "2026-03-31"]  # last day of short months


def test_relative_monthly_last_friday(graph):
    starts = _starts(
        graph,
        {
            "pattern": {
                "type": "relativeMonthly",
                "interval": 1,
                "daysOfWeek": ["friday"],
                "index": "last",
            },
            "range": {"type": "numbered", "startDate": "2026-01-30", "numberOfOccurrences": 3},
        },
        start="2026-01-30T09:00:00",
        end="2026-01-30T10:00:00",
    )
    assert starts == ["2026-01-30", "2026-02-27", "2026-03-27"]


def test_absolute_yearly_no_end_and_all_day(graph):
    starts = _starts(
        graph,
        {
            "pattern": {"type": "absoluteYearly", "interval": 1, "month": 3, "dayOfMonth": 8},
            "range": {"type": "noEnd", "startDate": "2026-03-08"},
        },
        start="2026-03-08T00:00:00",
        end="2026-03-09T00:00:00",
        isAllDay=True,
        window=("2026-01-01T00:00:00Z", "2029-01-01T00:00:00Z"),
    )
    assert starts == ["2026-03-08", "2027-03-08", "2028-03-08"]


def test_series_keeps_wall_clock_time_across_dst(graph):
    # Brussels switches to summer time on 2026-03-29: 09:00 local is 08:00 then 07:00 UTC.
    graph.post(
        "/me/events",
        json=_event(
            "Weekly",
            "2026-03-23T09:00:00",
            "2026-03-23T10:00:00",
            "Romance Standard Time",
            recurrence={
                "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                "range": {"type": "numbered", "startDate": "2026-03-23", "numberOfOccurrences": 2},
            },
        ),
    )
    view = graph.get(
        "/me/calendarView",
        params={"startDateTime": "2026-03-01T00:00:00Z", "endDateTime": "2026-04-30T00:00:00Z"},
    )
    assert [v["start"]["dateTime"][:16] for v in view.json()["value"]] == [
        "2026-03-23T08:00",
        "2026-03-30T07:00",
    ]


def test_calendar_view_paging_and_window(emulator, graph):
    box = emulator.mailbox("alice@example.com")
    for day in range(1, 16):
        box.create_event(
            _event("D%d" % day, "2026-05-%02dT09:00:00" % day, "2026-05-%02dT10:00:00" % day)
        )
    page = graph.get("/me/calendar/calendarView", params=WINDOW).json()
    assert len(page["value"]) == 10 and "@odata.nextLink" in page
    rest = graph.get(page["@odata.nextLink"]).json()
    assert [v["subject"] for v in page["value"] + rest["value"]] == [
        "D%d" % d for d in range(1, 16)
    ]
    narrow = graph.get(
        "/me/calendarView",
        params={"startDateTime": "2026-05-03T09:30:00Z", "endDateTime": "2026-05-04T09:00:00Z"},
    ).json()
    assert [v["subject"] for v in narrow["value"]] == ["D3"]


def test_replanning_a_series_drops_its_exceptions(graph):
    master = graph.post(
        "/me/events",
        json=_event(
            "Daily",
            "2026-05-04T09:00:00",
            "2026-05-04T09:30:00",
            recurrence={
                "pattern": {"type": "daily", "interval": 1},
                "range": {"type": "numbered", "startDate": "2026-05-04", "numberOfOccurrences": 3},
            },
        ),
    ).json()
    view = graph.get("/me/calendarView", params=WINDOW).json()["value"]
    graph.patch("/me/events/" + quote(view[1]["id"], safe=""), json={"subject": "Special"})
    graph.delete("/me/events/" + quote(view[2]["id"], safe=""))
    assert [v["subject"] for v in graph.get("/me/calendarView", params=WINDOW).json()["value"]] == [
        "Daily",
        "Special",
    ]
    graph.patch(
        "/me/events/" + quote(master["id"], safe=""),
        json={
            "recurrence": {
                "pattern": {"type": "daily", "interval": 1},
                "range": {"type": "numbered", "startDate": "2026-05-04", "numberOfOccurrences": 4},
            }
        },
    )
    after = graph.get("/me/calendarView", params=WINDOW).json()["value"]
    assert [(v["subject"], v["type"]) for v in after] == [("Daily", "occurrence")] * 4


def test_absolute_yearly_on_29_february(graph):
    starts = _starts(
        graph,
        {
            "pattern": {"type": "absoluteYearly", "interval": 1, "month": 2, "dayOfMonth": 29},
            "range": {"type": "numbered", "startDate": "2028-02-29", "numberOfOccurrences": 3},
        },
        start="2028-02-29T09:00:00",
        end="2028-02-29T10:00:00",
        window=("2028-01-01T00:00:00Z", "2031-01-01T00:00:00Z"),
    )
    assert starts == ["2028-02-29", "2029-02-28", "2030-02-28"]
