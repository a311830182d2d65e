"""``calendarView/delta``: rounds of changes, their pages and the tokens that resume them.

A round starts with a window (the first query) or a ``$deltatoken`` (the state a previous
round ended with) and lists what changed: every instance in the window the first time, then
the events written since, and those gone from the window or deleted. Its pages are followed
with ``$skiptoken``; the last one hands a ``$deltatoken`` for the next round. How Microsoft
365 shapes a round beyond what the reference page shows is in ``recurrence_delta``.

Each mailbox keeps its sync states in ``mailbox.sync_states``: ``r:<key>`` a round (its
pending changes and final state), ``s:<skiptoken>`` (round key, offset of the next page),
``d:<deltatoken>`` the final state of a round. An unknown or forgotten token answers 410.
"""

import secrets

from . import recurrence_delta, timeutil
from .events import page_size, preference_applied, render_options, window
from .protocol import GraphError, Response
from .timeutil import fmt_instant

DEFAULT_PAGE = 10
SYNC_STATES_KEPT = 100
# event-delta.md: calendarView delta supports neither $expand, $filter, $orderby nor
# $search, and $select cannot narrow its properties.
UNSUPPORTED_OPTIONS = ("$expand", "$filter", "$orderby", "$search", "$select")


def handle(emu, request, mailbox, calendar_id, prefix):
    """``GET .../calendarView/delta`` of ``mailbox`` (``prefix``: the path up to the calendar)."""
    query = request.query
    unsupported = sorted(name for name in UNSUPPORTED_OPTIONS if name in query)
    if unsupported:
        raise GraphError(
            400,
            "ErrorInvalidUrlQuery",
            "The following parameters are not supported with change tracking over the "
            "'Events' resource: '%s'." % ", ".join(unsupported),
        )
    deltatoken, skiptoken = query.get("$deltatoken"), query.get("$skiptoken")
    path = "/%s/calendarView/delta" % prefix
    if deltatoken or skiptoken:
        fault = emu.faults.take(("expire_delta",), path, mailbox.email)
        if fault is not None:
            raise _gone(mailbox, fault.code)
    if skiptoken:
        round_key, offset, current = _resume(mailbox, skiptoken)
    else:
        round_key, current = _start_round(emu, request, mailbox, calendar_id, deltatoken)
        offset = 0
    return _page(emu, request, mailbox, round_key, current, offset, path)


def _gone(mailbox, code=None):
    if code and code != "SyncStateNotFound":
        message = "A full resynchronization is required."
    else:
        code = "SyncStateNotFound"
        message = "The sync state generation is not found; generation=%d;[highest=%d]." % (
            max(0, mailbox.seq - 1),
            mailbox.seq,
        )
    return GraphError(410, code, message)


def _keep(mailbox, key, value):
    states = mailbox.sync_states
    states[key] = value
    if len(states) > SYNC_STATES_KEPT * 2:
        for old in list(states)[: len(states) - SYNC_STATES_KEPT * 2]:
            states.pop(old, None)


def _resume(mailbox, skiptoken):
    """(round key, offset, round) of a ``$skiptoken``."""
    ref = mailbox.sync_states.get("s:" + skiptoken)
    if ref is None:
        raise _gone(mailbox)
    round_key, offset = ref
    current = mailbox.sync_states.get("r:" + round_key)
    if current is None:
        raise _gone(mailbox)
    return round_key, offset, current


def _start_round(emu, request, mailbox, calendar_id, deltatoken):
    """A new round from the query's window, or from the state a ``$deltatoken`` names."""
    if deltatoken:
        base = mailbox.sync_states.get("d:" + deltatoken)
        if base is None or base["calendar"] != (calendar_id or mailbox.calendar_id):
            raise _gone(mailbox)
        bounds = timeutil.parse_instant(base["start"]), timeutil.parse_instant(base["end"])
        expand, page = base["expand"], base["page"]
    else:
        base = None
        bounds = window(request.query)
        expand = render_options(request)["expand_ext"]
        expand = sorted(expand) if isinstance(expand, set) else expand
        page = request.prefer.get("odata.maxpagesize")
    instances = mailbox.view(bounds[0], bounds[1], calendar_id, with_masters=True)
    ids = [e["id"] for e in instances]
    round_key = secrets.token_urlsafe(12)
    current = {
        "pending": _changes(emu, mailbox, calendar_id, base, instances, ids),
        "final": {
            "calendar": calendar_id or mailbox.calendar_id,
            "start": fmt_instant(bounds[0]),
            "end": fmt_instant(bounds[1]),
            "seq": mailbox.seq,
            "known": ids,
            "expand": expand,
            "page": page,
        },
    }
    _keep(mailbox, "r:" + round_key, current)
    return round_key, current


def _changes(emu, mailbox, calendar_id, base, instances, ids):
    """``[kind, id]`` of what the round reports: ``event`` (new or written since ``base``)
    or ``removed``."""
    if base is None:
        return [["event", i] for i in ids]
    known = set(base["known"])
    current_ids = set(ids)
    pending = [
        ["event", e["id"]] for e in instances if e["_seq"] > base["seq"] or e["id"] not in known
    ]
    pending += [["removed", i] for i in base["known"] if i not in current_ids]
    pending += [
        ["removed", i]
        for i in recurrence_delta.removed_outside_window(
            mailbox, base, current_ids, calendar_id, emu.lenient
        )
    ]
    return pending


def _page(emu, request, mailbox, round_key, current, offset, path):
    """The page of the round starting at ``offset``, with its nextLink or deltaLink."""
    prefer = request.prefer
    final = current["final"]
    size = page_size({}, prefer, default=int(final["page"] or emu.delta_page_default))
    chunk = current["pending"][offset : offset + size]
    expand = final["expand"]
    expand = set(expand) if isinstance(expand, list) else expand
    values = []
    for kind, event_id in chunk:
        if kind == "removed":
            values.append(
                {
                    "@odata.type": "#microsoft.graph.event",
                    "id": event_id,
                    "@removed": {"reason": "deleted"},
                }
            )
            continue
        try:
            event = mailbox.get(event_id)
        except GraphError:
            continue
        rendered = mailbox.render(
            event,
            tz_name=prefer.get("outlook.timezone"),
            body_type=prefer.get("outlook.body-content-type"),
            expand_ext=expand,
        )
        values.append(
            recurrence_delta.delta_item(
                {"@odata.type": "#microsoft.graph.event", **rendered}, emu.lenient
            )
        )
    out = {"@odata.context": emu.base_url + "/$metadata#Collection(event)"}
    if offset + size < len(current["pending"]):
        token = secrets.token_urlsafe(24)
        _keep(mailbox, "s:" + token, (round_key, offset + size))
        out["@odata.nextLink"] = "%s%s?$skiptoken=%s" % (emu.base_url, path, token)
    else:
        token = secrets.token_urlsafe(32)
        _keep(mailbox, "d:" + token, final)
        out["@odata.deltaLink"] = "%s%s?$deltatoken=%s" % (emu.base_url, path, token)
    out["value"] = values
    return Response(200, out, preference_applied(prefer, True))
