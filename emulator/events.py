"""Events and calendar views of a mailbox.

``/events`` (list, create), ``/events/{id}`` (get, update, delete), ``/events/{id}/instances``,
``/events/{id}/cancel``, ``/events/{id}/accept|decline|tentativelyAccept`` and
``/calendarView``, with the query options (``$filter``, ``$orderby``, ``$select``, ``$expand``,
``$top``, ``$skip``) and ``Prefer`` headers (``outlook.timezone``, ``outlook.body-content-type``,
``odata.maxpagesize``) they honour. ``delta`` reuses the window, page size and ``Prefer``
helpers. Validation and storage of the events themselves are in ``store``.
"""

import re
from urllib.parse import quote, urlencode

from . import timeutil
from .protocol import GraphError, Response, method_not_allowed, only, segment_not_found

DEFAULT_PAGE = 10
MAX_PAGE = 1000
RESPONSE_ACTIONS = ("accept", "decline", "tentativelyaccept")


def handle(emu, request, mailbox, calendar_id, rest, prefix):
    """A request below ``events`` (``rest``: the segments after it) of a calendar."""
    if not rest:
        return _collection(emu, request, mailbox, calendar_id, prefix)
    if len(rest) == 1:
        return _item(emu, request, mailbox, rest[0])
    return _action(emu, request, mailbox, rest, prefix)


def calendar_view(emu, request, mailbox, calendar_id, prefix):
    """``GET /calendarView``: the instances overlapping the window, occurrences included."""
    start, end = window(request.query)
    opts = render_options(request)
    items = _filtered(mailbox, mailbox.view(start, end, calendar_id), request.query)
    link, context = prefix + "/calendarView", emu.base_url + "/$metadata#Collection(event)"
    return _page(emu, request, mailbox, items, opts, link, context)


def _collection(emu, request, mailbox, calendar_id, prefix):
    opts = render_options(request)
    if request.method == "POST":
        event, _created = mailbox.api_create(request.body, calendar_id=calendar_id)
        rendered = mailbox.render(event, tz_name=opts["tz_name"], body_type=opts["body_type"])
        rendered = {"@odata.context": _entity_context(emu, mailbox), **rendered}
        return Response(201, rendered, preference_applied(request.prefer))
    only(request.method, "GET")
    items = _filtered(mailbox, mailbox.listing(calendar_id), request.query)
    items = _order(items, request.query.get("$orderby"))
    context = "%s/$metadata#users('%s')/events" % (emu.base_url, mailbox.user_id)
    return _page(emu, request, mailbox, items, opts, prefix + "/events", context)


def _item(emu, request, mailbox, event_id):
    opts = render_options(request)
    if request.method == "GET":
        rendered = mailbox.render(mailbox.get(event_id), **opts)
        return Response(
            200,
            {"@odata.context": _entity_context(emu, mailbox), **rendered},
            preference_applied(request.prefer),
        )
    if request.method == "PATCH":
        event = mailbox.api_update(event_id, request.body, request.header("If-Match"))
        return Response(
            200,
            mailbox.render(event, tz_name=opts["tz_name"], body_type=opts["body_type"]),
            preference_applied(request.prefer),
        )
    if request.method == "DELETE":
        mailbox.api_delete(event_id, request.header("If-Match"))
        return Response(204)
    raise method_not_allowed()


def _action(emu, request, mailbox, rest, prefix):
    event_id, action = rest[0], rest[1]
    method, body = request.method, request.body
    if len(rest) == 2 and action == "instances":
        only(method, "GET")
        master = mailbox.get(event_id)
        start, end = window(request.query)
        items = (
            mailbox.series_instances(master, start, end)
            if (master["type"] == "seriesMaster")
            else []
        )
        items.sort(key=lambda e: (e["_start"], e["id"]))
        link = prefix + "/events/" + quote(event_id, safe="") + "/instances"
        context = "%s/$metadata#users('%s')/events('%s')/instances" % (
            emu.base_url,
            mailbox.user_id,
            event_id,
        )
        return _page(emu, request, mailbox, items, render_options(request), link, context)
    if len(rest) == 2 and action == "cancel":
        only(method, "POST")
        comment = ""
        if isinstance(body, dict):
            comment = next((v for k, v in body.items() if k.lower() == "comment"), "")
        mailbox.api_cancel(event_id, comment)
        return Response(202)
    if len(rest) == 2 and action.lower() in RESPONSE_ACTIONS:
        only(method, "POST")
        emu.invitations.respond(mailbox, event_id, action, body)
        return Response(202)
    raise segment_not_found(action)


def _entity_context(emu, mailbox):
    return "%s/$metadata#users('%s')/events/$entity" % (emu.base_url, mailbox.user_id)


def _filtered(mailbox, items, query):
    if not query.get("$filter"):
        return items
    tree = mailbox.parse_filter(query["$filter"])
    return [e for e in items if mailbox.matches(e, tree)]


# ----- query options and Prefer headers ------------------------------------------------


def render_options(request):
    """The keyword arguments of ``Mailbox.render`` that ``$select``, ``$expand`` and the
    ``Prefer`` headers ask for."""
    query, prefer = request.query, request.prefer
    select = [s.strip() for s in query.get("$select", "").split(",") if s.strip()] or None
    expand = None
    raw = query.get("$expand", "")
    if raw:
        match = re.match(r"^\s*singleValueExtendedProperties\s*(?:\((.*)\))?\s*$", raw, re.I)
        if match:
            inner = match.group(1) or ""
            ids = re.findall(r"id\s+eq\s+'((?:[^']|'')*)'", inner, re.I)
            expand = {i.replace("''", "'").lower() for i in ids} if ids else True
    body_type = prefer.get("outlook.body-content-type")
    return {
        "tz_name": prefer.get("outlook.timezone"),
        "select": select,
        "expand_ext": expand,
        "body_type": body_type,
    }


def preference_applied(prefer, page_size_applied=False):
    """The ``Preference-Applied`` header naming the ``Prefer`` values honoured."""
    applied = []
    if prefer.get("outlook.timezone"):
        applied.append('outlook.timezone="%s"' % prefer["outlook.timezone"])
    if prefer.get("outlook.body-content-type"):
        applied.append('outlook.body-content-type="%s"' % prefer["outlook.body-content-type"])
    if page_size_applied and prefer.get("odata.maxpagesize"):
        applied.append("odata.maxpagesize=%s" % prefer["odata.maxpagesize"])
    return {"Preference-Applied": ", ".join(applied)} if applied else {}


def page_size(query, prefer, default=DEFAULT_PAGE, maximum=MAX_PAGE):
    raw = query.get("$top") or prefer.get("odata.maxpagesize")
    if not raw:
        return default
    try:
        size = int(raw)
    except ValueError as exc:
        raise GraphError(400, "BadRequest", "Invalid $top value '%s'." % raw) from exc
    if size < 1:
        raise GraphError(400, "BadRequest", "Invalid $top value '%s'." % raw)
    return min(size, maximum)


def window(query):
    """The (start, end) of ``startDateTime`` and ``endDateTime``, both required."""
    start, end = query.get("startdatetime"), query.get("enddatetime")
    if not start or not end:
        raise GraphError(
            400,
            "ErrorInvalidParameter",
            "This request requires a time window "
            "specified by the query string parameters StartDateTime and "
            "EndDateTime.",
        )
    try:
        bounds = timeutil.parse_instant(start), timeutil.parse_instant(end)
    except ValueError as exc:
        raise GraphError(
            400,
            "ErrorInvalidParameter",
            "The value '%s' of the parameter "
            "'StartDateTime' or 'EndDateTime' is not valid." % start,
        ) from exc
    if bounds[1] <= bounds[0]:
        raise GraphError(
            400,
            "ErrorInvalidParameter",
            "The value of the EndDateTime parameter must be later than StartDateTime.",
        )
    return bounds


def _order(items, orderby):
    if not orderby:
        return sorted(items, key=lambda e: (e["createdDateTime"], e["id"]))
    field, _, direction = orderby.strip().partition(" ")
    keys = {
        "start/datetime": lambda e: e["_start"],
        "end/datetime": lambda e: e["_end"],
        "lastmodifieddatetime": lambda e: e["lastModifiedDateTime"],
        "createddatetime": lambda e: e["createdDateTime"],
        "subject": lambda e: (e["subject"] or "").lower(),
    }
    key = keys.get(field.lower())
    if key is None:
        raise GraphError(400, "BadRequest", "The $orderby property '%s' is not supported." % field)
    return sorted(items, key=key, reverse=direction.strip().lower() == "desc")


def _page(emu, request, mailbox, items, opts, link_path, context):
    query = request.query
    size = page_size(query, request.prefer)
    try:
        skip = int(query.get("$skip") or 0)
    except ValueError as exc:
        raise GraphError(400, "BadRequest", "Invalid $skip value.") from exc
    page = items[skip : skip + size]
    out = {"@odata.context": context, "value": [mailbox.render(e, **opts) for e in page]}
    if skip + size < len(items):
        params = {k: v for k, v in query.items() if k != "$skip"}
        params = _original_case(params)
        params["$skip"] = str(skip + size)
        out["@odata.nextLink"] = "%s/%s?%s" % (
            emu.base_url,
            link_path,
            urlencode(params, safe="$,'/:()"),
        )
    return Response(200, out, preference_applied(request.prefer, True))


def _original_case(params):
    names = {"startdatetime": "startDateTime", "enddatetime": "endDateTime"}
    return {names.get(k, k): v for k, v in params.items()}
