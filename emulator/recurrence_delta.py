"""How Microsoft 365 shapes a calendarView delta round beyond what event-delta.md shows.

Both behaviours are on by default; ``GraphEmulator(lenient=True)`` (``--lenient``) turns them
off for the few tests that need the old, kinder shapes.

- Occurrences and exceptions of a series come as stubs: only ``@odata.type``, ``@odata.etag``,
  ``id``, ``seriesMasterId``, ``type``, ``start`` and ``end``; no subject, attendees,
  organizer, iCalUId, body, categories or sensitivity. Sources: microsoftgraph/
  microsoft-graph-docs-contrib issues #5602 and #34, microsoftgraph/microsoft-graph-docs issue
  #1716; Odoo's ``microsoft_calendar/utils/microsoft_calendar.py`` drops delta occurrences and
  reads them from ``/events/{seriesMasterId}/instances`` for this reason. Series masters come in
  full.
- A round may report events added or updated *outside* the window under ``@removed`` with
  reason ``deleted``, though they still exist (api-reference/v1.0/api/event-delta.md, Response
  section). Here: every stored event of the calendar written since the round's base that lies
  outside the window is reported so, whether or not the client ever saw it.
"""

# microsoft-graph-docs-contrib #34: the only properties of an occurrence in a delta page.
STUB_KEYS = ("@odata.type", "@odata.etag", "id", "seriesMasterId", "type", "start", "end")
STUB_TYPES = ("occurrence", "exception")


def delta_item(rendered, lenient=False):
    """The delta page's entry for one rendered event (``@odata.type`` included)."""
    if lenient or rendered.get("type") not in STUB_TYPES:
        return rendered
    return {key: rendered[key] for key in STUB_KEYS if key in rendered}


def removed_outside_window(mailbox, base, current_ids, calendar_id, lenient=False):
    """Ids of events written since ``base`` (a delta round's final state) that lie outside the
    window: reported ``@removed`` though they exist (event-delta.md, Response section)."""
    if lenient or base is None:
        return []
    known = set(base["known"])
    calendar = calendar_id or mailbox.calendar_id
    out = []
    for event in mailbox.events.values():
        if (
            event["_seq"] > base["seq"]
            and event["_calendar"] == calendar
            and event["id"] not in current_ids
            and event["id"] not in known  # those are already reported removed
        ):
            out.append(event["id"])
    return out


def uid_of(event):
    """``uid`` (resources/event.md): the same for a series master and all its occurrences,
    exceptions included, unlike ``iCalUId`` which differs per occurrence. Occurrence iCalUIds
    carry the occurrence date in bytes 16-19 of the Outlook global object id (characters
    32-39); the master's hold zeros there."""
    uid = event.get("iCalUId") or ""
    if event.get("type") in STUB_TYPES and len(uid) > 40:
        return uid[:32] + "00000000" + uid[40:]
    return uid
