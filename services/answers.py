"""Attendees' answers to meetings pushed from Odoo, both ways (pure: no Odoo).

- Outlook -> Odoo: the organizer's event carries each attendee's ``status`` (only the
  organizer's copy tracks responses, microsoft-graph-docs issue #5281); an answer sets the Odoo
  attendee's state. ``none`` and ``notResponded`` change nothing: an attendee may answer
  without sending the response, so Outlook's "none" does not undo an answer given in Odoo.
- Odoo -> Outlook: an internal attendee who answers in Odoo answers from their own mailbox's
  copy of the meeting (``accept``, ``decline``, ``tentativelyAccept``).
"""

# Outlook response (responseStatus.response) -> Odoo calendar.attendee state
ODOO_STATE = {
    "accepted": "accepted",
    "declined": "declined",
    "tentativelyaccepted": "tentative",
}
# Odoo calendar.attendee state -> Graph action answering the meeting request
GRAPH_ACTION = {
    "accepted": "accept",
    "declined": "decline",
    "tentative": "tentativelyAccept",
}
# Graph action -> the responseStatus it leaves on the attendee's copy
ACTION_RESPONSE = {
    "accept": "accepted",
    "decline": "declined",
    "tentativelyAccept": "tentativelyaccepted",
}


def outlook_states(event):
    """{attendee e-mail (lower case): Odoo state} for the answers the organizer's event shows."""
    states = {}
    for attendee in event.get("attendees") or []:
        if not isinstance(attendee, dict):
            continue
        address = ((attendee.get("emailAddress") or {}).get("address") or "").strip().casefold()
        response = ((attendee.get("status") or {}).get("response") or "").casefold()
        if address and response in ODOO_STATE:
            states[address] = ODOO_STATE[response]
    return states


def pick_copy(copies):
    """The attendee's own copy among the events of their mailbox with the meeting's iCalUId
    (never one they organize), or None."""
    for event in copies:
        if not event.get("isOrganizer"):
            return event
    return None


def already_answered(copy, action):
    """Whether the attendee's copy already shows the answer (nothing to send)."""
    response = ((copy.get("responseStatus") or {}).get("response") or "").casefold()
    return response == ACTION_RESPONSE[action].casefold()
