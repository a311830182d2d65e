"""calendarView delta reads against the emulator."""

from datetime import datetime

import pytest
from conftest import delta_round

from services.auth import TokenProvider
from services.errors import ResyncRequired
from services.graph_client import (
    EXTENDED_PROPERTY_ID,
    WriteOp,
    extended_property_value,
)

START, END = datetime(2026, 3, 1), datetime(2026, 4, 1)


def _payload(n, day=2, tz="UTC"):
    return {
        "subject": f"Item {n}",
        "start": {"dateTime": f"2026-03-{day:02d}T{9 + n % 8:02d}:00:00", "timeZone": tz},
        "end": {"dateTime": f"2026-03-{day:02d}T{10 + n % 8:02d}:00:00", "timeZone": tz},
    }


@pytest.fixture
def box(emulator, token_provider):
    return emulator.mailbox("alice@example.com")


def test_pages_follow_next_link_with_page_size(emulator, client, box):
    ids = {box.create_event(_payload(n, day=n + 1))["id"] for n in range(5)}
    box.create_event(
        _payload(9, day=1)
        | {
            "start": {"dateTime": "2026-05-01T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-05-01T10:00:00", "timeZone": "UTC"},
        }
    )
    pages = list(client.iter_delta_pages(START, END, page_size=2))
    assert [len(p.events) for p in pages] == [2, 2, 1]
    assert all(p.next_link and not p.delta_link for p in pages[:-1])
    assert pages[-1].delta_link and not pages[-1].next_link
    assert {e["id"] for p in pages for e in p.events} == ids
    assert emulator.counters["GET /me/calendarView/delta"] == 3


def test_times_come_back_in_utc(client, box):
    box.create_event(_payload(1, tz="W. Europe Standard Time"))
    result = delta_round(client, START, END)
    (event,) = result.events
    assert event["start"]["timeZone"] == "UTC"
    assert event["start"]["dateTime"].startswith("2026-03-02T09:00:00")  # 10:00 CET


def test_delta_link_reuse_changes_and_removed(emulator, client, box):
    keep, change, drop = (box.create_event(_payload(n, day=n + 3))["id"] for n in range(3))
    first = delta_round(client, START, END)
    assert {e["id"] for e in first.events} == {keep, change, drop}

    unchanged = delta_round(client, delta_link=first.delta_link)
    assert unchanged.events == [] and unchanged.removed == []

    box.update_event(change, {"subject": "Changed in Outlook"})
    box.delete_event(drop)
    added = box.create_event(_payload(7, day=20))["id"]
    second = delta_round(client, delta_link=unchanged.delta_link)
    assert {e["id"] for e in second.events} == {change, added}
    assert {e["id"]: e["subject"] for e in second.events}[change] == "Changed in Outlook"
    assert second.removed == [drop]
    assert second.delta_link != unchanged.delta_link


def test_resume_an_interrupted_round_from_next_link(client, box):
    ids = {box.create_event(_payload(n, day=n + 1))["id"] for n in range(5)}
    pages = client.iter_delta_pages(START, END, page_size=2)
    first = next(pages)
    pages.close()  # the worker stopped after persisting the first page's next link
    rest = delta_round(client, delta_link=first.next_link, page_size=2)
    assert {e["id"] for e in first.events} | {e["id"] for e in rest.events} == ids
    assert rest.delta_link


@pytest.mark.parametrize("code", [None, "resyncRequired"])
def test_expired_delta_state_means_resync(emulator, client, box, code):
    box.create_event(_payload(1))
    link = delta_round(client, START, END).delta_link
    emulator.faults.add("expire_delta", code=code)
    with pytest.raises(ResyncRequired) as info:
        delta_round(client, delta_link=link)
    assert info.value.status == 410
    assert info.value.code == (code or "SyncStateNotFound")


def test_unknown_delta_token_means_resync(emulator, client, box):
    link = delta_round(client, START, END).delta_link
    bogus = link.split("$deltatoken=")[0] + "$deltatoken=unknown"
    with pytest.raises(ResyncRequired):
        delta_round(client, delta_link=bogus)


def test_throttled_page_is_retried(emulator, client, box, sleeps):
    for n in range(4):
        box.create_event(_payload(n, day=n + 1))
    emulator.faults.add("throttle", count=1, retry_after=2, path_contains="skiptoken")
    result = delta_round(client, START, END, page_size=2)
    assert len(result.events) == 4 and result.delta_link
    assert sleeps == [2.0]


def test_extended_property_fetched_for_delta_events(emulator, client, box):
    ops = [
        WriteOp(
            f"calendar.event,{n}",
            "create",
            payload=_payload(n, day=n + 1)
            | {
                "singleValueExtendedProperties": [
                    {"id": EXTENDED_PROPERTY_ID, "value": f"calendar.event,{n}"}
                ]
            },
        )
        for n in range(3)
    ]
    assert all(r.ok for r in client.batch_write(ops))
    box.create_event(_payload(5, day=9))  # made in Outlook: no property
    emulator.reset_counters()
    result = delta_round(client, START, END, expand_property_id=EXTENDED_PROPERTY_ID)
    refs = sorted(filter(None, (extended_property_value(e) for e in result.events)))
    assert refs == ["calendar.event,0", "calendar.event,1", "calendar.event,2"]
    assert len(result.events) == 4
    # Graph's delta cannot $expand: one $batch of GETs completes the page.
    assert emulator.counters["POST /$batch"] == 1
    assert emulator.counters["GET /me/events/{id}"] == 4


def test_app_only_delta_on_a_user_mailbox(emulator, make_client):
    box = emulator.add_mailbox("bob@example.com")
    box.create_event(_payload(1))
    provider = TokenProvider(
        "emulator-test-client",
        "emulator-test-secret",
        f"{emulator.root_url}/{emulator.tenant_id}",
        verify=emulator.ca_path,
        app_only=True,
    )
    graph = make_client(provider=provider, mailbox="bob@example.com")
    result = delta_round(graph, START, END)
    assert [e["subject"] for e in result.events] == ["Item 1"]
    assert emulator.counters["GET /users/{id}/calendarView/delta"] == 1


def test_start_and_end_required_without_link(client):
    with pytest.raises(ValueError):
        delta_round(client)
