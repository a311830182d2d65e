"""Emulator: Outlook's 4 concurrent requests per app and mailbox, batch items included, and the
service time of writes (concepts/throttling-limits.md; microsoft-graph-docs #2886, #8760)."""

import itertools
import threading
import time

from conftest import EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET, GraphSession

JSON = {"Content-Type": "application/json"}


def _create(n, url="/me/events"):
    body = {
        "subject": "W%d" % n,
        "start": {"dateTime": "2026-05-04T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-05-04T10:00:00", "timeZone": "UTC"},
    }
    return {"id": str(n), "method": "POST", "url": url, "headers": JSON, "body": body}


def _chain(items):
    for previous, item in itertools.pairwise(items):
        item["dependsOn"] = [previous["id"]]
    return items


def _by_status(response):
    out = {}
    for answer in response.json()["responses"]:
        out.setdefault(answer["status"], []).append(answer)
    return out


def test_twenty_parallel_writes_to_one_mailbox_four_run_the_rest_get_429(emulator, graph):
    response = graph.post("/$batch", json={"requests": [_create(i) for i in range(20)]})
    assert response.status_code == 200
    by_status = _by_status(response)
    assert sorted(by_status) == [201, 429]
    assert len(by_status[201]) == 4
    assert len(by_status[429]) == 16
    for answer in by_status[429]:
        assert answer["headers"]["Retry-After"] == "1"
        assert answer["body"]["error"]["code"] == "ApplicationThrottled"
        assert "MailboxConcurrency" in answer["body"]["error"]["message"]
    assert len(emulator.mailbox("alice@example.com").events) == 4
    assert emulator.throttling.refused["alice@example.com"] == 16
    assert emulator.throttling.peak["alice@example.com"] == 4


def test_the_same_writes_sequenced_with_depends_on_all_run(emulator, graph):
    response = graph.post("/$batch", json={"requests": _chain([_create(i) for i in range(20)])})
    assert set(_by_status(response)) == {201}
    assert len(emulator.mailbox("alice@example.com").events) == 20
    assert emulator.throttling.peak["alice@example.com"] == 1
    assert emulator.throttling.refused["alice@example.com"] == 0


def test_reads_count_too(emulator, graph):
    items = [{"id": str(i), "method": "GET", "url": "/me/events"} for i in range(6)]
    by_status = _by_status(graph.post("/$batch", json={"requests": items}))
    assert (len(by_status[200]), len(by_status[429])) == (4, 2)


def test_requests_in_flight_and_batch_items_share_the_slots(emulator, graph):
    emulator.write_latency = 1.0
    token = graph.headers["Authorization"]
    done = []

    def slow_write(n):
        with GraphSession(emulator) as session:
            session.headers["Authorization"] = token
            done.append(session.post("/me/events", json=_create(n)["body"]).status_code)

    writers = [threading.Thread(target=slow_write, args=(n,)) for n in (100, 101)]
    for thread in writers:
        thread.start()
    deadline = time.monotonic() + 5
    while sum(emulator.throttling.in_flight.values()) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)  # until both writes hold a slot of Alice's mailbox
    items = [{"id": str(i), "method": "GET", "url": "/me/events"} for i in range(4)]
    by_status = _by_status(graph.post("/$batch", json={"requests": items}))
    for thread in writers:
        thread.join()
    assert done == [201, 201]
    assert (len(by_status[200]), len(by_status[429])) == (2, 2)


def test_a_fifth_concurrent_request_is_refused(emulator, graph):
    emulator.latency = 0.4
    token = graph.headers["Authorization"]
    statuses, retry_after = [], []

    def call():
        with GraphSession(emulator) as session:
            session.headers["Authorization"] = token
            answer = session.get("/me/events")
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                retry_after.append(answer.headers["Retry-After"])
                assert answer.json()["error"]["code"] == "ApplicationThrottled"

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 4 + [429] * 2
    assert retry_after == ["1", "1"]


def test_writes_take_their_service_time_inside_the_slot(emulator, graph):
    emulator.write_latency = 0.1
    started = time.monotonic()
    chained = graph.post("/$batch", json={"requests": _chain([_create(i) for i in range(5)])})
    sequential = time.monotonic() - started
    started = time.monotonic()
    parallel = graph.post("/$batch", json={"requests": [_create(i) for i in range(10, 14)]})
    together = time.monotonic() - started
    assert set(_by_status(chained)) == set(_by_status(parallel)) == {201}
    assert sequential >= 5 * 0.1
    assert 0.1 <= together < 3 * 0.1  # four parallel writes: one service time


def test_other_mailboxes_have_their_own_slots(emulator):
    for email in ("alice@example.com", "bob@example.com"):
        emulator.add_mailbox(email)
    with GraphSession(emulator) as session:
        token = session.post(
            emulator.authority + "/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": EMULATOR_CLIENT_ID,
                "client_secret": EMULATOR_CLIENT_SECRET,
                "scope": "https://graph.microsoft.com/.default",
            },
        ).json()["access_token"]
        session.headers["Authorization"] = "Bearer " + token
        items = [_create(i, "/users/alice@example.com/events") for i in range(4)]
        items += [_create(i, "/users/bob@example.com/events") for i in range(4, 8)]
        by_status = _by_status(session.post("/$batch", json={"requests": items}))
    assert set(by_status) == {201}
    assert emulator.throttling.peak == {"alice@example.com": 4, "bob@example.com": 4}


def test_lenient_emulator_has_no_limit(emulator, graph):
    emulator.mailbox_concurrency = None
    by_status = _by_status(
        graph.post("/$batch", json={"requests": [_create(i) for i in range(20)]})
    )
    assert set(by_status) == {201}
    assert len(by_status[201]) == 20
