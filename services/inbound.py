"""Decisions for "Sync Office 365 events": which Outlook meetings are logged in Odoo, and how.

Pure logic (no Odoo): the model gathers the facts (existing state, settings, known contacts,
internal domains) and applies what these functions decide.

Rules (the seed's semantics):

- events created by the addon (its category or its extended property) are never logged;
- private events are excluded by default; an event first seen private is remembered and is not
  logged when it later becomes non-private; a logged event that becomes private stays logged
  but, while it is private, nothing more of it is copied (subject, body, time, location,
  attendees) and its stored body is dropped; only a cancellation still applies. A user who
  includes private events keeps copying them;
- exclude/include categories only decide whether a not-yet-logged event is logged: an excluded
  event moved to an included category gets logged, a logged event moved to an excluded
  category stays logged (and keeps being updated);
- meetings whose people are all inside the company's own domains are internal: never logged;
- a cancelled (or deleted) meeting removes the open activities of its contacts;
- a meeting is one iCalUId, occurrence and organizer: a copy naming another organizer is
  another meeting, and only the organizer's copy changes a logged meeting's shared fields
  (``may_change_shared``).
"""

from dataclasses import dataclass
from html import escape

from .constants import CATEGORY_NAME
from .graph_client import extended_property_value
from .mapping import clean_email

LOG = "log"  # create or update the logged meeting
SKIP = "skip"  # not logged (reason given)
IGNORE = "ignore"  # not a meeting occurrence (series master): nothing to count
BLOCK_PRIVATE = "block_private"  # first seen private: remember it, never log it
KEEP_PRIVATE = "keep_private"  # logged, now private: keep it, copy nothing more, drop its body
CANCEL = "cancel"  # the logged meeting was cancelled in Outlook

# States of a meeting known to Odoo (office365.inbound.event.state)
LOGGED = "logged"
PRIVATE = "private"
CANCELLED = "cancelled"

PRIVATE_SENSITIVITIES = ("private", "confidential")
DESCRIPTION_MAX = 20000  # characters of the invitation body kept on the activity


@dataclass(frozen=True)
class Filters:
    """One user's "Sync Office 365 events" filters."""

    include_private: bool = False
    include_categories: frozenset = frozenset()
    exclude_categories: frozenset = frozenset()
    category_name: str = CATEGORY_NAME


@dataclass(frozen=True)
class Decision:
    action: str
    reason: str = ""


def email_domain(email):
    email = clean_email(email)
    return email.rpartition("@")[2] if email else ""


def internal_domains(param_text, fallback_emails=()):
    """Domains of the company: the admin list if set, else the domains of ``fallback_emails``."""
    domains = {
        part.strip().lstrip("@").casefold()
        for part in (param_text or "").split(",")
        if part.strip()
    }
    if domains:
        return domains
    return {email_domain(email) for email in fallback_emails if email_domain(email)}


def meeting_key(event):
    """(iCalUId, occurrence key): one logged meeting per occurrence of a series.

    ``originalStart`` identifies an occurrence even after it was moved; single events use "".
    """
    uid = event.get("iCalUId") or event.get("id") or ""
    occurrence = ""
    if event.get("type") in ("occurrence", "exception"):
        occurrence = event.get("originalStart") or (event.get("start") or {}).get("dateTime") or ""
    return uid, occurrence


def is_private(event):
    return (event.get("sensitivity") or "normal").casefold() in PRIVATE_SENSITIVITIES


def odoo_ref(event):
    """The addon's extended property on ``event`` (``"model,id"`` of the record it came from)."""
    return extended_property_value(event)


def is_ours(event, category_name, our_ref=None):
    """Created by the addon: carries its category or its extended property."""
    if our_ref:
        return True
    wanted = (category_name or "").casefold()
    return bool(wanted) and any(
        (cat or "").casefold() == wanted for cat in event.get("categories") or []
    )


def category_reason(categories, filters):
    """Why the categories keep a not-yet-logged event out ("" when they let it in)."""
    cats = {(cat or "").strip().casefold() for cat in categories or [] if (cat or "").strip()}
    excluded = cats & filters.exclude_categories
    if excluded:
        return "in an excluded category (%s)" % ", ".join(sorted(excluded))
    if filters.include_categories and not cats & filters.include_categories:
        return "in none of the included categories"
    return ""


def people(values):
    """Every address of the meeting: organizer first, then attendees (deduplicated)."""
    out = []
    for email in [values.get("organizer")] + list(values.get("attendees") or []):
        email = clean_email(email)
        if email and email not in out:
            out.append(email)
    return out


def split_people(emails, domains, internal_emails):
    """(internal, external) addresses; internal = company domain or an internal user's address."""
    internal, external = [], []
    for email in emails:
        if email in internal_emails or email_domain(email) in domains:
            internal.append(email)
        else:
            external.append(email)
    return internal, external


def decide(event, values, state, filters, external, our_ref=None):
    """What to do with one Outlook event of a syncing user.

    ``values``: ``mapping.graph_to_values(event)``; ``state``: the known meeting's state (None
    when new); ``external``: the meeting's addresses outside the company.
    """
    if event.get("type") == "seriesMaster":
        return Decision(IGNORE)
    if is_ours(event, filters.category_name, our_ref):
        return Decision(SKIP, "created by Odoo")
    if event.get("isCancelled"):
        if state == LOGGED:
            return Decision(CANCEL, "cancelled in Outlook")
        return Decision(SKIP, "cancelled")
    if state == LOGGED:
        # Private or category changes never remove a logged meeting; a private one is frozen.
        if is_private(event) and not filters.include_private:
            return Decision(KEEP_PRIVATE, "private in Outlook since it was logged")
        return Decision(LOG)
    if state == PRIVATE:
        return Decision(SKIP, "private when first synced")
    if is_private(event) and not filters.include_private:
        return Decision(BLOCK_PRIVATE, "private")
    reason = category_reason(values.get("categories"), filters)
    if reason:
        return Decision(SKIP, reason)
    if not external:
        return Decision(SKIP, "internal meeting")
    return Decision(LOG)


def may_change_shared(is_organizer_copy, organizer_syncs, is_lead_copy):
    """Whether one mailbox's copy of a logged meeting may change what every attendee sees
    (subject, organizer, body, time, place, attendees, cancellation).

    Each internal attendee holds their own copy (same iCalUId); an attendee can edit theirs
    locally, and anyone invited can craft an invitation with a known iCalUId. Only the
    organizer's copy speaks for the meeting; when the organizer's mailbox does not sync (a
    contact organized it), the copy of the mailbox that logged it first stands in. Any other
    copy only adds or removes its own attendee.
    """
    return bool(is_organizer_copy or (not organizer_syncs and is_lead_copy))


def cancel_on_removal(is_organizer_copy, other_copies):
    """A meeting removed from one mailbox is cancelled when the organizer's copy went, or when
    no syncing user has it any more; otherwise only that user stops attending."""
    return bool(is_organizer_copy or not other_copies)


def truncate_description(html):
    """(description, truncated): the invitation body cut to DESCRIPTION_MAX with a notice."""
    html = html or ""
    if len(html) <= DESCRIPTION_MAX:
        return html, False
    notice = (
        "<p><i>[Description truncated: the Outlook invitation is %d characters long; "
        "open the meeting in Outlook for the rest.]</i></p>" % len(html)
    )
    return html[:DESCRIPTION_MAX] + notice, True


def details_html(rows, links=()):
    """The meeting's details as HTML lines (``rows``: (label, value) pairs; ``links``: (label,
    URL) pairs shown as links, http(s) only; empty ones left out)."""
    parts = [
        "<li><b>%s:</b> %s</li>" % (escape(label), escape(str(value)))
        for label, value in rows
        if value
    ]
    parts += [
        '<li><b>%s:</b> <a href="%s" target="_blank" rel="noopener">%s</a></li>'
        % (escape(label), escape(url), escape(url))
        for label, url in links
        if url and str(url).lower().startswith(("https://", "http://"))
    ]
    return "<ul>%s</ul>" % "".join(parts) if parts else ""


def strip_details(note, details):
    """The user's description part of an activity note that starts with our ``details``."""
    note = note or ""
    if details and note.startswith(details):
        return note[len(details) :]
    return note


# ----------------------------------------------------------------------
# The activities of a logged meeting
# ----------------------------------------------------------------------
ON_CONTACT = "contact"  # a Meeting activity on a contact or company (res_id: the partner)
ON_MEETING = "meeting"  # a to-do on the meeting record itself (logged so before; moved)


@dataclass(frozen=True)
class Activity:
    """A logged activity as it is now. ``kind``: ON_CONTACT, ON_MEETING, or "" when it is
    attached anywhere else (it is then moved like any activity off the anchor)."""

    id: int
    kind: str
    res_id: int
    user_id: int
    summary: object = False
    date_deadline: object = False


@dataclass
class ActivityPlan:
    """What to change so that one meeting's activities say what the meeting says."""

    writes: list  # (activity id, {field: value}); "res_id": move it onto the anchor partner
    unlink: list  # activity ids
    create: list  # user ids (False: unassigned) that get a Meeting activity on the anchor


def activity_anchor(current_id, company_id, contact_ids):
    """The partner whose timeline holds the meeting's activities: the contacts' company when
    there are several and they all belong to it, else the contact that holds them already
    while it attends, else the first contact in Outlook's order (``contact_ids``: organizer
    first, then attendees).

    A single contact keeps them on their own timeline (the company is there to avoid picking
    one of several). Keeping the current one while it attends keeps the activities (and any
    note edited on them) from jumping between contacts when someone else joins or leaves."""
    if company_id and len(contact_ids) > 1:
        return company_id
    if current_id and current_id in contact_ids:
        return current_id
    return contact_ids[0] if contact_ids else False


def timeline_contacts(contact_ids, anchor_id, told_ids):
    """The contacts (in order) whose timeline must now be told of the meeting by a note:
    every attending contact but the anchor, once."""
    told = set(told_ids)
    return [cid for cid in contact_ids if cid != anchor_id and cid not in told]


def plan_activities(current, anchor_id, user_ids, common, note, owned):
    """Compare one meeting's activities with what they should be.

    ONE Meeting activity per user of ``user_ids`` (the organizer when their mailbox syncs, or
    the mailbox standing in for them, first; then every other syncing attendee), all on the
    partner ``anchor_id`` (see ``activity_anchor``), whatever the number of contacts.
    ``common``: the summary and the deadline every activity shows; ``note``: the new note, or
    None when the meeting's note did not change; ``owned``: "<activity id>:time|note|summary"
    marks of fields edited in Odoo, which Outlook no longer overwrites.

    A user with several activities (one per contact, as meetings were logged before, or an
    anchor that moved) keeps one: the one whose note they edited, else the one already on the
    anchor, else the oldest; it moves onto the anchor with its edits, the others go. Activities
    of users no longer concerned go.
    """
    wanted = list(dict.fromkeys(user_ids))
    mine = {}
    for activity in current:
        mine.setdefault(activity.user_id or False, []).append(activity)
    plan = ActivityPlan([], [], [])
    for user_id, activities in mine.items():
        if user_id not in wanted:
            plan.unlink += [activity.id for activity in activities]
            continue
        kept = min(
            activities,
            key=lambda a: (
                f"{a.id}:note" not in owned,
                not (a.kind == ON_CONTACT and a.res_id == anchor_id),
                a.id,
            ),
        )
        plan.unlink += [activity.id for activity in activities if activity is not kept]
        vals = {key: val for key, val in common.items() if getattr(kept, key) != val}
        if f"{kept.id}:time" in owned:
            vals.pop("date_deadline", None)
        if f"{kept.id}:summary" in owned:
            vals.pop("summary", None)
        if note is not None and f"{kept.id}:note" not in owned:
            vals["note"] = note
        if not (kept.kind == ON_CONTACT and kept.res_id == anchor_id):
            vals["res_id"] = anchor_id
        if vals:
            plan.writes.append((kept.id, vals))
    plan.unlink.sort()
    plan.create = [user_id for user_id in wanted if user_id not in mine]
    return plan
