"""Emulator: event endpoints, validation, transactionId, etags, extended properties, categories."""

from urllib.parse import quote

import pytest
from conftest import EMULATOR_CLIENT_ID, GraphSession

PROP = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name OdooRecord"


def _event(
    subject="Meeting", start="2026-03-10T09:00:00", end="2026-03-10T10:00:00", tz="UTC", **extra
):
    payload = {
        "subject": subject,
        "start": {"dateTime": start, "timeZone": tz},
        "end": {"dateTime": end, "timeZone": tz},
    }
    payload.update(extra)
    return payload


def _error(response, status, code):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    return error


def test_me_and_users_resolve_the_same_mailbox(emulator, graph):
    me = graph.get("/me").json()
    assert me["userPrincipalName"] == "alice@example.com"
    assert me["displayName"] == "Alice Smith"
    by_id = graph.get("/users/%s" % me["id"]).json()
    by_upn = graph.get("/users/alice@example.com").json()
    assert by_id["id"] == by_upn["id"] == me["id"] == emulator.mailbox("alice@example.com").user_id


def test_delegated_token_cannot_read_another_mailbox(emulator, graph):
    emulator.add_mailbox("bob@example.com")
    _error(graph.get("/users/bob@example.com/events"), 403, "ErrorAccessDenied")
    _error(graph.get("/users/nobody@example.com/events"), 404, "ErrorInvalidUser")


def test_missing_or_unknown_token_is_401(emulator, graph):
    anonymous = GraphSession(emulator)
    _error(anonymous.get("/me"), 401, "InvalidAuthenticationToken")
    _error(GraphSession(emulator, "garbage").get("/me"), 401, "InvalidAuthenticationToken")


def test_app_only_token_reads_users_but_not_me(emulator, graph):
    emulator.add_mailbox("bob@example.com")
    emulator.mailbox("bob@example.com").create_event(_event("Bob's"))
    token = emulator.auth.issue(None, EMULATOR_CLIENT_ID)["access_token"]
    app = GraphSession(emulator, token)
    _error(app.get("/me/events"), 400, "BadRequest")
    events = app.get("/users/bob@example.com/events").json()["value"]
    assert [e["subject"] for e in events] == ["Bob's"]


def test_create_get_update_delete_event(emulator, graph):
    created = graph.post(
        "/me/events",
        json=_event(
            "Plan",
            "2026-03-10T09:00:00",
            "2026-03-10T10:30:00",
            "Romance Standard Time",
            categories=["Unknown category"],
            sensitivity="Private",
            showAs="oof",
            attendees=[
                {"emailAddress": {"address": "x@example.com", "name": "X"}, "type": "Optional"}
            ],
            location={"displayName": "Room 1"},
            body={"contentType": "text", "content": "a\nb"},
        ),
    )
    assert created.status_code == 201, created.text
    event = created.json()
    assert len(event["id"]) > 100
    assert event["type"] == "singleInstance" and event["seriesMasterId"] is None
    assert event["start"] == {"dateTime": "2026-03-10T08:00:00.0000000", "timeZone": "UTC"}
    assert event["end"] == {"dateTime": "2026-03-10T09:30:00.0000000", "timeZone": "UTC"}
    assert event["originalStartTimeZone"] == "Romance Standard Time"
    assert event["categories"] == ["Unknown category"]  # Graph accepts unknown categories
    assert event["sensitivity"] == "private" and event["showAs"] == "oof"
    assert event["attendees"][0]["type"] == "optional"
    assert event["attendees"][0]["status"] == {"response": "none", "time": "0001-01-01T00:00:00Z"}
    assert event["organizer"]["emailAddress"]["address"] == "alice@example.com"
    assert event["isOrganizer"] is True
    assert event["location"]["displayName"] == "Room 1"
    assert event["body"]["contentType"] == "html" and "a<br>" in event["body"]["content"]
    assert event["bodyPreview"] == "a b"
    assert event["@odata.etag"] == 'W/"%s"' % event["changeKey"]
    assert event["createdDateTime"].endswith("Z") and event["iCalUId"].startswith("0400")
    assert "transactionId" not in event

    event_url = "/me/events/" + quote(event["id"], safe="")
    fetched = graph.get(event_url, headers={"Prefer": 'outlook.timezone="Europe/Brussels"'})
    assert fetched.json()["start"] == {
        "dateTime": "2026-03-10T09:00:00.0000000",
        "timeZone": "Europe/Brussels",
    }
    assert fetched.headers["Preference-Applied"] == 'outlook.timezone="Europe/Brussels"'
    text = graph.get(event_url, headers={"Prefer": 'outlook.body-content-type="text"'}).json()
    assert text["body"] == {"contentType": "text", "content": "a\nb"}

    patched = graph.patch(event_url, json={"subject": "Plan 2", "categories": []})
    assert patched.status_code == 200
    assert patched.json()["subject"] == "Plan 2" and patched.json()["categories"] == []
    assert patched.json()["changeKey"] != event["changeKey"]
    assert patched.json()["lastModifiedDateTime"] >= event["lastModifiedDateTime"]

    assert graph.delete(event_url).status_code == 204
    _error(graph.get(event_url), 404, "ErrorItemNotFound")
    _error(graph.delete(event_url), 404, "ErrorItemNotFound")


def test_calendar_paths_reach_the_same_events(emulator, graph):
    calendars = graph.get("/me/calendars").json()["value"]
    assert len(calendars) == 1 and calendars[0]["isDefaultCalendar"] is True
    cal_id = calendars[0]["id"]
    assert graph.get("/me/calendar").json()["id"] == cal_id
    graph.post("/me/calendar/events", json=_event("A"))
    graph.post("/me/calendars/%s/events" % cal_id, json=_event("B"))
    graph.post("/me/events", json=_event("C"))
    for path in ("/me/events", "/me/calendar/events", "/me/calendars/%s/events" % cal_id):
        assert sorted(e["subject"] for e in graph.get(path).json()["value"]) == ["A", "B", "C"]
    _error(graph.get("/me/calendars/AAMkWRONG/events"), 404, "ErrorItemNotFound")


@pytest.mark.parametrize(
    "payload, code",
    [
        (
            _event(start="2026-03-10T10:00:00", end="2026-03-10T09:00:00"),
            "ErrorPropertyValidationFailure",
        ),
        (
            _event(start="2026-03-10T10:00:00", end="2026-03-11T00:00:00", isAllDay=True),
            "ErrorPropertyValidationFailure",
        ),
        (
            _event(start="2026-03-10T00:00:00", end="2026-03-10T00:00:00", isAllDay=True),
            "ErrorPropertyValidationFailure",
        ),
        (_event(tz="Mars/Olympus_Mons"), "TimeZoneNotSupportedException"),
        (_event(tz="Nowhere Standard Time"), "TimeZoneNotSupportedException"),
        ({"subject": "no times"}, "ErrorInvalidRequest"),
        (_event(end=None), "ErrorInvalidRequest"),
        (_event(showAs="sleeping"), "RequestBodyRead"),
        (_event(sensitivity=3), "RequestBodyRead"),
        (
            _event(
                recurrence={
                    "pattern": {"type": "weekly", "interval": 1},
                    "range": {"type": "noEnd", "startDate": "2026-03-10"},
                }
            ),
            "ErrorPropertyValidationFailure",
        ),
    ],
)
def test_invalid_events_are_rejected_with_graph_errors(graph, payload, code):
    if payload.get("end") == {"dateTime": None, "timeZone": "UTC"}:
        payload.pop("end")
    _error(graph.post("/me/events", json=payload), 400, code)
    assert graph.get("/me/events").json()["value"] == []


def test_all_day_events_in_any_time_zone(graph):
    response = graph.post(
        "/me/events",
        json=_event(
            "Holiday",
            "2026-03-10T00:00:00",
            "2026-03-12T00:00:00",
            "Pacific Standard Time",
            isAllDay=True,
        ),
    )
    assert response.status_code == 201, response.text
    event = response.json()
    assert event["isAllDay"] is True
    assert event["start"]["dateTime"] == "2026-03-10T00:00:00.0000000"
    assert event["end"]["dateTime"] == "2026-03-12T00:00:00.0000000"
    in_tokyo = graph.get(
        "/me/events/" + quote(event["id"], safe=""),
        headers={"Prefer": 'outlook.timezone="Tokyo Standard Time"'},
    ).json()
    assert in_tokyo["start"] == {
        "dateTime": "2026-03-10T00:00:00.0000000",
        "timeZone": "Tokyo Standard Time",
    }
    # Switching off all-day keeps the stored times; turning it on at 10:00 fails.
    url = "/me/events/" + quote(event["id"], safe="")
    bad = graph.patch(url, json={"start": {"dateTime": "2026-03-10T10:00:00", "timeZone": "UTC"}})
    assert bad.status_code == 400


def test_transaction_id_deduplicates_creates(emulator, graph):
    payload = _event("Once", transactionId="odoo-mail.activity-42")
    first = graph.post("/me/events", json=payload)
    second = graph.post("/me/events", json=payload)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["transactionId"] == "odoo-mail.activity-42"
    assert len(graph.get("/me/events").json()["value"]) == 1
    other = _event("Other", transactionId="odoo-mail.activity-42")
    different = graph.post("/me/events", json=other)
    _error(different, 400, "ErrorDuplicateTransactionId")
    url = "/me/events/" + quote(first.json()["id"], safe="")
    _error(graph.patch(url, json={"transactionId": "changed"}), 400, "ErrorInvalidRequest")
    # Another mailbox has its own transaction ids.
    emulator.add_mailbox("bob@example.com")
    bob = GraphSession(
        emulator, emulator.issue_tokens("bob@example.com", EMULATOR_CLIENT_ID)["access_token"]
    )
    assert bob.post("/me/events", json=payload).json()["id"] != first.json()["id"]


def test_if_match_etag(graph):
    event = graph.post("/me/events", json=_event()).json()
    url = "/me/events/" + quote(event["id"], safe="")
    ok = graph.patch(url, json={"subject": "v2"}, headers={"If-Match": event["@odata.etag"]})
    assert ok.status_code == 200
    stale = graph.patch(url, json={"subject": "v3"}, headers={"If-Match": event["@odata.etag"]})
    _error(stale, 412, "ErrorIrresolvableConflict")
    _error(
        graph.delete(url, headers={"If-Match": event["@odata.etag"]}),
        412,
        "ErrorIrresolvableConflict",
    )
    assert graph.delete(url, headers={"If-Match": ok.json()["@odata.etag"]}).status_code == 204


def test_single_value_extended_properties(graph):
    created = graph.post(
        "/me/events",
        json=_event(
            "Tagged", singleValueExtendedProperties=[{"id": PROP, "value": "mail.activity,7"}]
        ),
    )
    assert created.status_code == 201
    assert "singleValueExtendedProperties" not in created.json()
    graph.post(
        "/me/events",
        json=_event(
            "Other", singleValueExtendedProperties=[{"id": PROP, "value": "mail.activity,8"}]
        ),
    )
    graph.post("/me/events", json=_event("Plain"))
    url = "/me/events/" + quote(created.json()["id"], safe="")
    expanded = graph.get(
        url, params={"$expand": "singleValueExtendedProperties($filter=id eq '%s')" % PROP}
    ).json()
    assert expanded["singleValueExtendedProperties"] == [{"id": PROP, "value": "mail.activity,7"}]
    found = graph.get(
        "/me/events",
        params={
            "$filter": "singleValueExtendedProperties/Any(ep: ep/id eq '%s' and ep/value eq "
            "'mail.activity,7')" % PROP
        },
    ).json()["value"]
    assert [e["subject"] for e in found] == ["Tagged"]
    starting = graph.get(
        "/me/events",
        params={
            "$filter": "singleValueExtendedProperties/any(ep: ep/id eq '%s' and "
            "startswith(ep/value, 'mail.activity'))" % PROP
        },
    ).json()["value"]
    assert sorted(e["subject"] for e in starting) == ["Other", "Tagged"]
    graph.patch(url, json={"singleValueExtendedProperties": [{"id": PROP, "value": "x,1"}]})
    again = graph.get(url, params={"$expand": "singleValueExtendedProperties"}).json()
    assert again["singleValueExtendedProperties"] == [{"id": PROP, "value": "x,1"}]


def test_list_filters_paging_select_and_order(graph):
    for day in range(1, 26):
        graph.post(
            "/me/events",
            json=_event(
                "E%02d" % day, "2026-04-%02dT09:00:00" % day, "2026-04-%02dT10:00:00" % day
            ),
        )
    first = graph.get("/me/events").json()
    assert len(first["value"]) == 10 and "$skip=10" in first["@odata.nextLink"]
    subjects = [e["subject"] for e in first["value"]]
    link = first["@odata.nextLink"]
    while link:
        page = graph.get(link).json()
        subjects += [e["subject"] for e in page["value"]]
        link = page.get("@odata.nextLink")
    assert sorted(subjects) == ["E%02d" % d for d in range(1, 26)]
    top = graph.get("/me/events", params={"$top": "30"}).json()
    assert len(top["value"]) == 25 and "@odata.nextLink" not in top
    late = graph.get(
        "/me/events",
        params={
            "$filter": "start/dateTime ge '2026-04-20T00:00:00' and subject ne 'E22'",
            "$orderby": "start/dateTime desc",
            "$select": "subject,start",
        },
    ).json()["value"]
    assert [e["subject"] for e in late] == ["E25", "E24", "E23", "E21", "E20"]
    assert set(late[0]) == {"@odata.etag", "id", "subject", "start"}
    ical = late[0]["id"]
    uid = graph.get("/me/events/" + quote(ical, safe="")).json()["iCalUId"]
    by_uid = graph.get("/me/events", params={"$filter": "iCalUId eq '%s'" % uid}).json()
    assert [e["id"] for e in by_uid["value"]] == [ical]
    recent = graph.get(
        "/me/events",
        params={"$filter": "lastModifiedDateTime ge 2020-01-01T00:00:00Z", "$top": "100"},
    ).json()
    assert len(recent["value"]) == 25
    _error(graph.get("/me/events", params={"$filter": "subject eq"}), 400, "BadRequest")


def test_cancel_is_for_organizers_only(emulator, graph):
    event = graph.post(
        "/me/events",
        json=_event(attendees=[{"emailAddress": {"address": "b@example.com"}, "type": "required"}]),
    ).json()
    url = "/me/events/" + quote(event["id"], safe="")
    assert graph.post(url + "/cancel", json={"Comment": "Sorry"}).status_code == 202
    _error(graph.get(url), 404, "ErrorItemNotFound")
    box = emulator.mailbox("alice@example.com")
    invite = box.create_event(
        _event(
            "Invite", organizer={"emailAddress": {"address": "boss@example.com", "name": "Boss"}}
        )
    )
    assert invite["isOrganizer"] is False
    invite_url = "/me/events/" + quote(invite["id"], safe="")
    _error(graph.post(invite_url + "/cancel", json={}), 400, "ErrorInvalidRequest")
    box.cancel_event(invite["id"])
    cancelled = graph.get(invite_url).json()
    assert cancelled["isCancelled"] is True and cancelled["subject"].startswith("Canceled: ")
    assert graph.post(invite_url + "/accept", json={}).status_code == 202


def test_master_categories(graph):
    created = graph.post(
        "/me/outlook/masterCategories", json={"displayName": "Odoo", "color": "preset9"}
    )
    assert created.status_code == 201
    assert created.json()["color"] == "preset9" and created.json()["id"]
    _error(
        graph.post("/me/outlook/masterCategories", json={"displayName": "odoo"}),
        409,
        "ErrorDuplicateDisplayName",
    )
    _error(
        graph.post(
            "/me/outlook/masterCategories", json={"displayName": "Bad", "color": "preset25"}
        ),
        400,
        "RequestBodyRead",
    )
    listed = graph.get("/me/outlook/masterCategories").json()["value"]
    assert [(c["displayName"], c["color"]) for c in listed] == [("Odoo", "preset9")]
    cat_url = "/me/outlook/masterCategories/" + created.json()["id"]
    assert graph.patch(cat_url, json={"color": "preset1"}).json()["color"] == "preset1"
    assert graph.delete(cat_url).status_code == 204
    assert graph.get("/me/outlook/masterCategories").json()["value"] == []


def test_unknown_segment_and_method(graph):
    _error(graph.get("/me/nothing"), 400, "BadRequest")
    _error(graph.put("/me/events", json={}), 405, "BadRequest")
    bad_json = graph.post(
        "/me/events", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    _error(bad_json, 400, "BadRequest")
