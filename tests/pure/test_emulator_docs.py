"""Emulator: the Microsoft Graph documentation's own examples, replayed.

Each test copies an example request from microsoftgraph/microsoft-graph-docs-contrib (path in
the test's comment) and checks the response has the documented status and shape.
"""

import time
from datetime import datetime, timedelta, timezone

import pytest
from test_emulator_webhooks import Receiver

EVENT_KEYS = {
    "@odata.etag",
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "categories",
    "originalStartTimeZone",
    "originalEndTimeZone",
    "iCalUId",
    "reminderMinutesBeforeStart",
    "isReminderOn",
    "hasAttachments",
    "subject",
    "bodyPreview",
    "importance",
    "sensitivity",
    "isAllDay",
    "isCancelled",
    "isOrganizer",
    "responseRequested",
    "seriesMasterId",
    "showAs",
    "type",
    "webLink",
    "onlineMeetingUrl",
    "responseStatus",
    "body",
    "start",
    "end",
    "location",
    "locations",
    "recurrence",
    "attendees",
    "organizer",
}


@pytest.fixture
def receiver():
    hook = Receiver()
    yield hook
    hook.close()


def test_doc_create_event_with_prefer_timezone(graph):
    # api-reference/v1.0/api/user-post-events.md, "Request 1"
    response = graph.post(
        "/me/events",
        headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'},
        json={
            "subject": "Let's go for lunch",
            "body": {"contentType": "HTML", "content": "Does late morning work for you?"},
            "start": {"dateTime": "2017-04-15T12:00:00", "timeZone": "Pacific Standard Time"},
            "end": {"dateTime": "2017-04-15T14:00:00", "timeZone": "Pacific Standard Time"},
            "location": {"displayName": "Harry's Bar"},
            "attendees": [
                {
                    "emailAddress": {
                        "address": "samanthab@contoso.onmicrosoft.com",
                        "name": "Samantha Booth",
                    },
                    "type": "required",
                }
            ],
        },
    )
    assert response.status_code == 201
    event = response.json()
    assert EVENT_KEYS <= set(event)
    assert "/events/$entity" in event["@odata.context"]
    assert event["start"] == {
        "dateTime": "2017-04-15T12:00:00.0000000",
        "timeZone": "Pacific Standard Time",
    }
    assert event["originalStartTimeZone"] == "Pacific Standard Time"
    assert event["type"] == "singleInstance" and event["showAs"] == "busy"
    assert event["responseStatus"] == {"response": "organizer", "time": "0001-01-01T00:00:00Z"}
    assert event["body"]["contentType"] == "html"
    assert "Does late morning work for you?" in event["body"]["content"]
    assert event["bodyPreview"] == "Does late morning work for you?"
    assert event["location"] == {
        "displayName": "Harry's Bar",
        "locationType": "default",
        "uniqueId": "Harry's Bar",
        "uniqueIdType": "private",
    }
    assert event["locations"] == [
        {"displayName": "Harry's Bar", "locationType": "default", "uniqueIdType": "unknown"}
    ]
    assert event["attendees"] == [
        {
            "type": "required",
            "status": {"response": "none", "time": "0001-01-01T00:00:00Z"},
            "emailAddress": {
                "name": "Samantha Booth",
                "address": "samanthab@contoso.onmicrosoft.com",
            },
        }
    ]
    assert event["organizer"]["emailAddress"]["address"] == "alice@example.com"
    assert event["reminderMinutesBeforeStart"] == 15 and event["isReminderOn"] is True


def test_doc_create_event_with_multiple_locations(graph):
    # api-reference/v1.0/api/user-post-events.md, "Request 2"
    response = graph.post(
        "/me/events",
        headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'},
        json={
            "subject": "Plan summer company picnic",
            "body": {"contentType": "HTML", "content": "Let's kick-start this event planning!"},
            "start": {"dateTime": "2017-08-30T11:00:00", "timeZone": "Pacific Standard Time"},
            "end": {"dateTime": "2017-08-30T12:00:00", "timeZone": "Pacific Standard Time"},
            "attendees": [
                {
                    "emailAddress": {
                        "address": "DanaS@contoso.onmicrosoft.com",
                        "name": "Dana Swope",
                    },
                    "type": "Required",
                },
                {
                    "emailAddress": {
                        "address": "AlexW@contoso.onmicrosoft.com",
                        "name": "Alex Wilber",
                    },
                    "type": "Required",
                },
            ],
            "location": {
                "displayName": "Conf Room 3; Fourth Coffee; Home Office",
                "locationType": "Default",
            },
            "locations": [
                {"displayName": "Conf Room 3"},
                {
                    "displayName": "Fourth Coffee",
                    "address": {
                        "street": "4567 Main St",
                        "city": "Redmond",
                        "state": "WA",
                        "countryOrRegion": "US",
                        "postalCode": "32008",
                    },
                    "coordinates": {"latitude": 47.672, "longitude": -102.103},
                },
                {"displayName": "Home Office"},
            ],
        },
    )
    assert response.status_code == 201
    event = response.json()
    assert event["location"]["displayName"] == "Conf Room 3; Fourth Coffee; Home Office"
    assert [loc["displayName"] for loc in event["locations"]] == [
        "Conf Room 3",
        "Fourth Coffee",
        "Home Office",
    ]
    assert event["locations"][1]["address"]["city"] == "Redmond"
    assert event["locations"][1]["coordinates"] == {"latitude": 47.672, "longitude": -102.103}
    assert [a["type"] for a in event["attendees"]] == ["required", "required"]
    assert event["start"]["timeZone"] == "Pacific Standard Time"


def test_doc_create_recurring_event(graph):
    # api-reference/v1.0/api/user-post-events.md, "Request 3"
    response = graph.post(
        "/me/events",
        json={
            "subject": "Let's go for lunch",
            "body": {"contentType": "HTML", "content": "Does noon time work for you?"},
            "start": {"dateTime": "2017-09-04T12:00:00", "timeZone": "Pacific Standard Time"},
            "end": {"dateTime": "2017-09-04T14:00:00", "timeZone": "Pacific Standard Time"},
            "recurrence": {
                "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["Monday"]},
                "range": {"type": "endDate", "startDate": "2017-09-04", "endDate": "2017-12-31"},
            },
            "location": {"displayName": "Harry's Bar"},
            "attendees": [
                {
                    "emailAddress": {
                        "address": "AdeleV@contoso.onmicrosoft.com",
                        "name": "Adele Vance",
                    },
                    "type": "required",
                }
            ],
        },
    )
    assert response.status_code == 201
    event = response.json()
    assert event["type"] == "seriesMaster" and event["seriesMasterId"] is None
    assert event["recurrence"]["pattern"] == {
        "type": "weekly",
        "interval": 1,
        "month": 0,
        "dayOfMonth": 0,
        "daysOfWeek": ["monday"],
        "firstDayOfWeek": "sunday",
        "index": "first",
    }
    assert event["recurrence"]["range"] == {
        "type": "endDate",
        "startDate": "2017-09-04",
        "endDate": "2017-12-31",
        "recurrenceTimeZone": "Pacific Standard Time",
        "numberOfOccurrences": 0,
    }
    view = graph.get(
        "/me/calendarView",
        params={
            "startDateTime": "2017-09-01T00:00:00Z",
            "endDateTime": "2018-01-31T00:00:00Z",
            "$top": "100",
        },
    ).json()["value"]
    assert len(view) == 17  # the Mondays from 2017-09-04 to 2017-12-25


def test_doc_update_event(graph):
    # api-reference/v1.0/api/event-update.md, example request
    event = graph.post(
        "/me/events",
        json={
            "subject": "Doc",
            "start": {"dateTime": "2017-04-15T12:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2017-04-15T13:00:00", "timeZone": "UTC"},
        },
    ).json()
    response = graph.patch(
        "/me/events/" + event["id"],
        json={
            "originalStartTimeZone": "originalStartTimeZone-value",
            "originalEndTimeZone": "originalEndTimeZone-value",
            "responseStatus": {"response": "", "time": "datetime-value"},
            "recurrence": None,
            "reminderMinutesBeforeStart": 99,
            "isOnlineMeeting": True,
            "onlineMeetingProvider": "teamsForBusiness",
            "isReminderOn": True,
            "hideAttendees": False,
            "categories": ["Red category"],
        },
    )
    assert response.status_code == 200
    updated = response.json()
    assert updated["reminderMinutesBeforeStart"] == 99
    assert updated["isOnlineMeeting"] is True
    assert updated["onlineMeetingProvider"] == "teamsForBusiness"
    assert updated["isReminderOn"] is True and updated["hideAttendees"] is False
    assert updated["recurrence"] is None
    assert updated["categories"] == ["Red category"]
    # Read-only values in the request body are ignored.
    assert updated["responseStatus"]["response"] == "organizer"
    assert updated["originalStartTimeZone"] == "UTC"


def test_doc_delete_event(graph):
    # api-reference/v1.0/api/event-delete.md: DELETE /me/events/{id} -> 204 No Content
    event = graph.post(
        "/me/events",
        json={
            "subject": "Doc",
            "start": {"dateTime": "2017-04-15T12:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2017-04-15T13:00:00", "timeZone": "UTC"},
        },
    ).json()
    response = graph.delete("/me/events/" + event["id"])
    assert response.status_code == 204 and response.content == b""


def test_doc_cancel_event(graph):
    # api-reference/v1.0/api/event-cancel.md, example request
    event = graph.post(
        "/me/events",
        json={
            "subject": "All hands",
            "start": {"dateTime": "2017-04-15T12:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2017-04-15T13:00:00", "timeZone": "UTC"},
        },
    ).json()
    response = graph.post(
        "/me/events/%s/cancel" % event["id"],
        json={"Comment": "Cancelling for this week due to all hands"},
    )
    assert response.status_code == 202 and response.content == b""
    assert graph.get("/me/events/" + event["id"]).status_code == 404


def test_doc_create_outlook_category(graph):
    # api-reference/v1.0/api/outlookuser-post-mastercategories.md, example request
    response = graph.post(
        "/me/outlook/masterCategories", json={"displayName": "Project expenses", "color": "preset9"}
    )
    assert response.status_code == 201
    category = response.json()
    assert "/outlook/masterCategories/$entity" in category["@odata.context"]
    assert set(category) == {"@odata.context", "id", "displayName", "color"}
    assert category["displayName"] == "Project expenses" and category["color"] == "preset9"


def test_doc_calendar_view_delta_round(emulator, graph):
    # concepts/delta-query-events.md, steps 1-3 and "the next round"; event-delta.md
    box = emulator.mailbox("alice@example.com")
    documented = [
        ("Plan shopping list", "2016-12-09T20:30:00", "2016-12-09T22:00:00"),
        ("Pick up car", "2016-12-10T01:00:00", "2016-12-10T02:00:00"),
        ("Get food", "2016-12-10T19:30:00", "2016-12-10T21:30:00"),
        ("Prepare food", "2016-12-10T22:00:00", "2016-12-11T00:00:00"),
        ("Rest!", "2016-12-12T02:00:00", "2016-12-12T07:30:00"),
    ]
    ids = {}
    for subject, start, end in documented:
        ids[subject] = box.create_event(
            {
                "subject": subject,
                "body": {"contentType": "html", "content": ""},
                "start": {"dateTime": start, "timeZone": "UTC"},
                "end": {"dateTime": end, "timeZone": "UTC"},
            }
        )["id"]
    headers = {"Prefer": "odata.maxpagesize=2"}
    first = graph.get(
        graph.base_url + "/me/calendarView/delta?startdatetime=2016-12-01T00:00:00Z"
        "&enddatetime=2016-12-30T00:00:00Z",
        headers=headers,
    )
    assert first.status_code == 200
    page = first.json()
    assert page["@odata.context"].endswith("$metadata#Collection(event)")
    assert len(page["value"]) == 2 and "$skiptoken=" in page["@odata.nextLink"]
    assert page["@odata.nextLink"].startswith(graph.base_url + "/me/calendarView/delta?")
    seen = list(page["value"])
    second = graph.get(page["@odata.nextLink"], headers=headers).json()
    assert len(second["value"]) == 2 and "@odata.nextLink" in second
    third = graph.get(second["@odata.nextLink"], headers=headers).json()
    assert len(third["value"]) == 1 and "$deltatoken=" in third["@odata.deltaLink"]
    seen += second["value"] + third["value"]
    assert [e["subject"] for e in seen] == [d[0] for d in documented]
    for item in seen:
        assert item["@odata.type"] == "#microsoft.graph.event"
        assert {
            "@odata.etag",
            "subject",
            "body",
            "start",
            "end",
            "attendees",
            "organizer",
            "id",
        } <= set(item)
        assert item["start"]["timeZone"] == "UTC"
    # The next round: one event deleted, one added.
    box.delete_event(ids["Get food"])
    box.create_event(
        {
            "subject": "Attend service",
            "start": {"dateTime": "2016-12-25T06:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2016-12-25T07:30:00", "timeZone": "UTC"},
            "location": {
                "displayName": "Chapel of Saint Ignatius",
                "address": {
                    "street": "900 Broadway",
                    "city": "Seattle",
                    "state": "WA",
                    "countryOrRegion": "United States",
                    "postalCode": "",
                },
                "coordinates": {"latitude": 47.6105, "longitude": -122.321},
            },
        }
    )
    nxt = graph.get(third["@odata.deltaLink"], headers=headers).json()
    assert "$deltatoken=" in nxt["@odata.deltaLink"]
    removed = [v for v in nxt["value"] if "@removed" in v]
    assert removed == [
        {
            "@odata.type": "#microsoft.graph.event",
            "id": ids["Get food"],
            "@removed": {"reason": "deleted"},
        }
    ]
    added = [v for v in nxt["value"] if "@removed" not in v]
    assert [a["subject"] for a in added] == ["Attend service"]
    assert added[0]["location"]["address"]["city"] == "Seattle"


def test_doc_list_calendar_view(emulator, graph):
    # api-reference/v1.0/api/calendar-list-calendarview.md, example request
    emulator.mailbox("alice@example.com").create_event(
        {
            "subject": "In range",
            "start": {"dateTime": "2017-01-02T10:00:00", "timeZone": "Pacific Standard Time"},
            "end": {"dateTime": "2017-01-02T11:00:00", "timeZone": "Pacific Standard Time"},
        }
    )
    response = graph.get(
        graph.base_url + "/me/calendar/calendarView?startDateTime="
        "2017-01-01T19:00:00-08:00&endDateTime=2017-01-07T19:00:00-08:00"
    )
    assert response.status_code == 200
    [event] = response.json()["value"]
    for key in (
        "originalStartTimeZone",
        "originalEndTimeZone",
        "responseStatus",
        "iCalUId",
        "reminderMinutesBeforeStart",
        "isReminderOn",
    ):
        assert key in event
    assert event["start"] == {"dateTime": "2017-01-02T18:00:00.0000000", "timeZone": "UTC"}


def test_doc_list_events_with_select_and_timezone(emulator, graph):
    # api-reference/v1.0/api/user-list-events.md, example request
    emulator.mailbox("alice@example.com").create_event(
        {
            "subject": "Orientation ",
            "body": {
                "contentType": "html",
                "content": "<p>Dana, this is the time you selected.</p>",
            },
            "start": {"dateTime": "2017-04-21T10:00:00", "timeZone": "Pacific Standard Time"},
            "end": {"dateTime": "2017-04-21T12:00:00", "timeZone": "Pacific Standard Time"},
            "location": {"displayName": "Assembly Hall"},
        }
    )
    response = graph.get(
        graph.base_url + "/me/events?$select=subject,body,bodyPreview,organizer,attendees,start,"
        "end,location",
        headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'},
    )
    assert response.status_code == 200
    assert response.headers["Preference-Applied"] == 'outlook.timezone="Pacific Standard Time"'
    [event] = response.json()["value"]
    assert set(event) == {
        "@odata.etag",
        "id",
        "subject",
        "body",
        "bodyPreview",
        "organizer",
        "attendees",
        "start",
        "end",
        "location",
    }
    assert event["start"] == {
        "dateTime": "2017-04-21T10:00:00.0000000",
        "timeZone": "Pacific Standard Time",
    }
    assert event["body"]["contentType"] == "html"
    assert event["bodyPreview"] == "Dana, this is the time you selected."


def test_doc_list_instances(graph):
    # api-reference/v1.0/api/event-list-instances.md, example request (series re-created:
    # Mondays 20:30-21:00 UTC from 2019-04-08, the 4/15 occurrence moved to 4/16)
    master = graph.post(
        "/me/events",
        json={
            "subject": "Review strategy for Q3",
            "start": {"dateTime": "2019-04-08T20:30:00", "timeZone": "UTC"},
            "end": {"dateTime": "2019-04-08T21:00:00", "timeZone": "UTC"},
            "recurrence": {
                "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                "range": {"type": "noEnd", "startDate": "2019-04-08"},
            },
        },
    ).json()
    window = {"startDateTime": "2019-04-14T00:00:00Z", "endDateTime": "2019-04-16T00:00:00Z"}
    [moving] = graph.get("/me/events/%s/instances" % master["id"], params=window).json()["value"]
    graph.patch(
        "/me/events/" + moving["id"],
        json={
            "start": {"dateTime": "2019-04-16T20:30:00", "timeZone": "UTC"},
            "end": {"dateTime": "2019-04-16T21:00:00", "timeZone": "UTC"},
        },
    )
    response = graph.get(
        graph.base_url + "/me/events/%s/instances?startDateTime=2019-04-08T09:00:00.0000000&"
        "endDateTime=2019-04-30T09:00:00.0000000&$select=subject,bodyPreview,seriesMasterId,"
        "type,recurrence,start,end" % master["id"]
    )
    assert response.status_code == 200
    assert "/instances" in response.json()["@odata.context"]
    values = response.json()["value"]
    assert sorted((v["type"], v["start"]["dateTime"]) for v in values) == [
        ("exception", "2019-04-16T20:30:00.0000000"),
        ("occurrence", "2019-04-08T20:30:00.0000000"),
        ("occurrence", "2019-04-22T20:30:00.0000000"),
        ("occurrence", "2019-04-29T20:30:00.0000000"),
    ]
    for value in values:
        assert value["seriesMasterId"] == master["id"] and value["recurrence"] is None
        assert set(value) == {
            "@odata.etag",
            "id",
            "subject",
            "bodyPreview",
            "seriesMasterId",
            "type",
            "recurrence",
            "start",
            "end",
        }


def test_doc_create_event_with_extended_property(graph):
    # api-reference/v1.0/api/singlevaluelegacyextendedproperty-post-singlevalueextendedproperties.md
    # "Request 1"; then singlevaluelegacyextendedproperty-get.md ($expand and $filter)
    response = graph.post(
        "/me/events",
        json={
            "subject": "Celebrate Thanksgiving",
            "body": {"contentType": "HTML", "content": "Let's get together!"},
            "start": {"dateTime": "2015-11-26T18:00:00", "timeZone": "Pacific Standard Time"},
            "end": {"dateTime": "2015-11-26T23:00:00", "timeZone": "Pacific Standard Time"},
            "attendees": [
                {
                    "emailAddress": {"address": "Terrie@contoso.com", "name": "Terrie Barrera"},
                    "type": "Required",
                }
            ],
            "singleValueExtendedProperties": [
                {"id": "String {66f5a359-4659-4830-9070-00040ec6ac6e} Name Fun", "value": "Food"}
            ],
        },
    )
    assert response.status_code == 201
    assert "singleValueExtendedProperties" not in response.json()  # "does not include"
    event_id = response.json()["id"]
    expanded = graph.get(
        graph.base_url + "/me/events/%s?$expand=singleValueExtendedProperties("
        "$filter=id%%20eq%%20'String%%20{66f5a359-4659-4830-9070-00040ec6ac6e}"
        "%%20Name%%20Fun')" % event_id
    ).json()
    assert expanded["singleValueExtendedProperties"] == [
        {"id": "String {66f5a359-4659-4830-9070-00040ec6ac6e} Name Fun", "value": "Food"}
    ]
    found = graph.get(
        graph.base_url + "/me/events?$filter=singleValueExtendedProperties%2FAny("
        "ep%3A%20ep%2Fid%20eq%20'String%20{66f5a359-4659-4830-9070-00040ec6ac6e}"
        "%20Name%20Fun'%20and%20ep%2Fvalue%20eq%20'Food')"
    ).json()["value"]
    assert [e["id"] for e in found] == [event_id]
    assert "singleValueExtendedProperties" not in found[0]


def test_doc_json_batching(graph):
    # concepts/json-batching.md, "Example JSON batch request": none of these targets exist in
    # the emulator (calendar only), yet the batch answers 200 with one response per id.
    response = graph.post(
        "/$batch",
        headers={"Accept": "application/json"},
        json={
            "requests": [
                {"id": "1", "method": "GET", "url": "/me/memberOf"},
                {"id": "2", "method": "GET", "url": "/me/planner/tasks"},
                {
                    "id": "3",
                    "method": "DELETE",
                    "url": "/groups/0e226165-c685-41ce-8bfc-df8360ab325d",
                },
                {
                    "id": "4",
                    "url": "/users/161ab652-cdbc-490d-82a4-0ada1f0db247/"
                    "getPasswordSingleSignOnCredentials",
                    "method": "POST",
                    "body": {},
                    "headers": {"Content-Type": "application/json"},
                },
                {
                    "id": "5",
                    "url": "users?$select=id,displayName,userPrincipalName&$filter=city eq "
                    "null&$count=true",
                    "method": "GET",
                    "headers": {"ConsistencyLevel": "eventual"},
                },
            ]
        },
    )
    assert response.status_code == 200
    responses = response.json()["responses"]
    assert sorted(r["id"] for r in responses) == ["1", "2", "3", "4", "5"]
    for item in responses:
        assert set(item) == {"id", "status", "headers", "body"}
        assert 400 <= item["status"] < 500
        assert isinstance(item["headers"], dict) and item["body"]["error"]["code"]


def test_doc_json_batching_depends_on(graph):
    # concepts/json-batching.md, "Sequencing requests with the dependsOn property" (urls "..."
    # in the doc; calendar urls here): runs 1, 2, 4, then 3.
    event = {
        "start": {"dateTime": "2017-01-01T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2017-01-01T10:00:00", "timeZone": "UTC"},
    }
    json_headers = {"Content-Type": "application/json"}
    response = graph.post(
        "/$batch",
        json={
            "requests": [
                {
                    "id": "1",
                    "method": "POST",
                    "url": "/me/events",
                    "headers": json_headers,
                    "body": dict(event, subject="one"),
                },
                {
                    "id": "2",
                    "dependsOn": ["1"],
                    "method": "POST",
                    "url": "/me/events",
                    "headers": json_headers,
                    "body": dict(event, subject="two"),
                },
                {
                    "id": "4",
                    "dependsOn": ["2"],
                    "method": "POST",
                    "url": "/me/events",
                    "headers": json_headers,
                    "body": dict(event, subject="four"),
                },
                {
                    "id": "3",
                    "dependsOn": ["4"],
                    "method": "GET",
                    "url": "/me/events?$orderby=createdDateTime",
                },
            ]
        },
    )
    responses = {r["id"]: r for r in response.json()["responses"]}
    assert [e["subject"] for e in responses["3"]["body"]["value"]] == ["one", "two", "four"]


def test_doc_subscription_create_renew_delete(emulator, graph, receiver):
    # api-reference/v1.0/api/subscription-post-subscriptions.md, example request. Its resource
    # (mail) is not emulated: 400. The same body on "me/events" (the doc's Events example
    # resource) and a future expiration succeeds with the documented response shape.
    future = (datetime.now(timezone.utc) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
    body = {
        "changeType": "created",
        "notificationUrl": receiver.url,
        "resource": "me/mailFolders('Inbox')/messages",
        "expirationDateTime": future,
        "clientState": "secretClientValue",
        "latestSupportedTlsVersion": "v1_2",
    }
    assert graph.post("/subscriptions", json=body).status_code == 400
    response = graph.post("/subscriptions", json=dict(body, resource="me/events"))
    assert response.status_code == 201
    sub = response.json()
    assert sub["@odata.context"].endswith("$metadata#subscriptions/$entity")
    for key in (
        "id",
        "resource",
        "applicationId",
        "changeType",
        "clientState",
        "notificationUrl",
        "expirationDateTime",
        "creatorId",
        "latestSupportedTlsVersion",
        "notificationContentType",
    ):
        assert key in sub
    assert sub["latestSupportedTlsVersion"] == "v1_2"
    assert sub["notificationContentType"] == "application/json"
    assert sub["creatorId"] == emulator.mailbox("alice@example.com").user_id
    # concepts/change-notifications-delivery-webhooks.md: renewal then delete
    later = (datetime.now(timezone.utc) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
    renewed = graph.patch("/subscriptions/" + sub["id"], json={"expirationDateTime": later})
    assert renewed.status_code == 200
    assert renewed.json()["expirationDateTime"][:19] == later[:19]
    assert graph.delete("/subscriptions/" + sub["id"]).status_code == 204


def test_doc_throttling_retry_after(emulator, graph):
    # concepts/throttling.md: 429 with a Retry-After header; wait that many seconds, retry.
    emulator.faults.add("throttle", retry_after=1)
    first = graph.get("/me/events")
    assert first.status_code == 429
    wait = int(first.headers["Retry-After"])
    assert wait == 1
    time.sleep(wait)
    assert graph.get("/me/events").status_code == 200
