"""Make a calendarView delta page trustworthy before anything is decided on it.

Microsoft 365 shapes delta pages in two ways the rest of the sync must never see raw:

- Occurrences and exceptions of a recurring meeting come as stubs (``id``, ``seriesMasterId``,
  ``type``, ``start``, ``end`` only: no subject, attendees, organizer or iCalUId;
  microsoft-graph-docs-contrib issues #5602 and #34). Mapped as they are, a customer meeting
  would look internal and be keyed by id. :func:`complete_occurrences` replaces each stub by the
  occurrence as ``/events/{seriesMasterId}/instances`` gives it (as Odoo's own
  ``microsoft_calendar`` does): one request per series, sent together in ``$batch``, never one
  per occurrence. A stub its series no longer lists (the occurrence was cancelled meanwhile, or
  the whole series deleted) is reported as removed.
- A round may list events written outside the window under ``@removed`` (reason ``deleted``)
  though they still exist (event-delta.md, Response section): our own events pushed or moved
  beyond the window would be taken for deletions in Outlook. :func:`confirm_removed` asks Graph
  (batched ``GET /events/{id}``): 404 means deleted, 200 gives the event as it is now.

Pure Python: works on any object with :class:`~.graph_client.GraphClient`'s ``batch_get`` and
``get``.
"""

from datetime import datetime, timedelta
from urllib.parse import quote

from .errors import GraphError
from .timezones import parse_graph_datetime, query_datetime

STUB_TYPES = ("occurrence", "exception")
# What the inbound filters and keys read; a stub lacks them all.
FULL_KEYS = ("subject", "attendees", "organizer", "iCalUId")
GONE_STATUSES = (404, 410)
# Instances per page: fewer requests than Graph's default of 10 for long series.
INSTANCES_PAGE = 100


def is_stub(event):
    """An occurrence or exception missing what the sync reads (as delta gives them)."""
    return (
        isinstance(event, dict)
        and event.get("type") in STUB_TYPES
        and bool(event.get("seriesMasterId"))
        and any(key not in event for key in FULL_KEYS)
    )


def _utc(value):
    """A Graph dateTimeTimeZone as a naive UTC datetime, or None when unusable."""
    try:
        return parse_graph_datetime(value).replace(tzinfo=None)
    except (TypeError, ValueError, LookupError):
        return None


def series_windows(stubs):
    """{seriesMasterId: (low, high)}: a window holding every stub of that series (a day of
    margin each side, so a stub with odd times is still listed)."""
    windows = {}
    for stub in stubs:
        start = _utc(stub.get("start"))
        end = _utc(stub.get("end")) or start
        if start is None:
            start = end = datetime(1970, 1, 1)  # no usable time: the series' whole span below
        low, high = windows.get(stub["seriesMasterId"], (start, end))
        windows[stub["seriesMasterId"]] = (min(low, start), max(high, end))
    return {
        master: (low - timedelta(days=1), high + timedelta(days=1))
        for master, (low, high) in windows.items()
    }


def _instances_path(master_id, low, high):
    return "/events/%s/instances?startDateTime=%s&endDateTime=%s&$top=%d" % (
        quote(master_id, safe=""),
        query_datetime(low),
        query_datetime(high),
        INSTANCES_PAGE,
    )


def series_instances(client, windows):
    """{seriesMasterId: [events] or None (series gone)} for ``windows`` ({id: (low, high)}).

    One ``/instances`` request per series in ``$batch``; further pages of a long series are
    followed one by one. Raises :class:`GraphError` when a series cannot be read (the page is
    then read again by the next run, nothing decided on a guess)."""
    masters = list(windows)
    answers = client.batch_get([_instances_path(m, *windows[m]) for m in masters])
    out = {}
    for master, answer in zip(masters, answers, strict=True):
        status = int((answer or {}).get("status") or 0)
        body = (answer or {}).get("body") or {}
        if status in GONE_STATUSES:
            out[master] = None
            continue
        if status != 200:
            error = body.get("error") or {} if isinstance(body, dict) else {}
            raise GraphError(
                status,
                error.get("code") or "seriesUnreadable",
                "The occurrences of a recurring meeting could not be read: %s"
                % (error.get("message") or status),
            )
        items = list(body.get("value") or [])
        link = body.get("@odata.nextLink")
        while link:
            page = client.get(link, headers={"Prefer": 'outlook.timezone="UTC"'}) or {}
            items.extend(page.get("value") or [])
            link = page.get("@odata.nextLink")
        out[master] = items
    return out


def complete_occurrences(client, events):
    """(events, vanished_ids): ``events`` with each stub replaced by its full occurrence, in the
    same order; ``vanished_ids`` the stubs their series no longer lists."""
    stubs = [event for event in events if is_stub(event)]
    if not stubs:
        return list(events), []
    by_id = {}
    for items in series_instances(client, series_windows(stubs)).values():
        for item in items or ():
            if isinstance(item, dict) and item.get("id"):
                by_id[item["id"]] = item
    out, vanished = [], []
    for event in events:
        if not is_stub(event):
            out.append(event)
        elif event.get("id") in by_id:
            out.append(by_id[event["id"]])
        else:
            vanished.append(event.get("id"))
    return out, vanished


def confirm_removed(client, event_ids):
    """({id: event} still in the mailbox, [ids] really gone) for ids delta reported removed.

    Raises :class:`GraphError` when an answer is neither (the next run asks again rather than
    detach or keep on a guess)."""
    event_ids = [event_id for event_id in dict.fromkeys(event_ids) if event_id]
    if not event_ids:
        return {}, []
    answers = client.batch_get(["/events/%s" % quote(i, safe="") for i in event_ids])
    present, gone = {}, []
    for event_id, answer in zip(event_ids, answers, strict=True):
        status = int((answer or {}).get("status") or 0)
        body = (answer or {}).get("body")
        if status == 200 and isinstance(body, dict) and body.get("id"):
            body = {k: v for k, v in body.items() if k != "@odata.context"}
            present[event_id] = body
        elif status in GONE_STATUSES:
            gone.append(event_id)
        else:
            error = (body or {}).get("error") or {} if isinstance(body, dict) else {}
            raise GraphError(
                status,
                error.get("code") or "removalUnconfirmed",
                "Could not check whether an Outlook event was deleted: %s"
                % (error.get("message") or status),
            )
    return present, gone
