"""Normalized values (see ``services.mapping``) of an approved leave shown in Outlook.

A leave becomes one Outlook event: subject ``<Leave type>: <description>``, shown as *Out of
office*, in the addon's category. Whole-day leaves are all-day events (Graph's convention: the
end is midnight of the day after the last day off); half days and hours are timed events in UTC.
Pure Python: the model hands plain values in.
"""

from datetime import date, datetime, timedelta

from .mapping import MappingError, cut_subject, utc_iso

SHOW_AS = "oof"
FALLBACK_LANG = "en_US"


def pick_translation(translations, lang, fallback_lang=FALLBACK_LANG):
    """The name to show for a translated field stored as ``{lang: text}``.

    Returns ``(text, lang_used)``: the user's language first, then ``fallback_lang``, then the
    first other language (alphabetical, for a stable result). ``("", None)`` when no language
    has a non-blank text.
    """
    if isinstance(translations, str):
        translations = {fallback_lang: translations}
    translations = translations or {}
    order = [
        lang,
        fallback_lang,
        *sorted(k for k in translations if k not in (lang, fallback_lang)),
    ]
    for code in order:
        text = " ".join(str(translations.get(code) or "").split())
        if text:
            return text, code
    return "", None


def leave_subject(type_name, description):
    """``<Leave type>: <description>``; only the type when there is no description."""
    type_name = " ".join((type_name or "").split())
    description = " ".join((description or "").split())
    if not type_name:
        raise MappingError("the leave type has no name")
    return cut_subject(f"{type_name}: {description}" if description else type_name)[0]


def leave_values(
    type_name,
    description,
    *,
    all_day,
    category,
    day_from=None,
    day_to=None,
    date_from=None,
    date_to=None,
):
    """Normalized values of one leave.

    ``all_day``: a whole-day leave from ``day_from`` to ``day_to`` (dates, both included).
    Otherwise a timed leave from ``date_from`` to ``date_to`` (naive UTC or aware datetimes).
    Raises ``MappingError`` with a clear message when the leave cannot be shown.
    """
    values = {
        "subject": leave_subject(type_name, description),
        "all_day": bool(all_day),
        "show_as": SHOW_AS,
        "categories": sorted([category]) if category else [],
    }
    if all_day:
        if not isinstance(day_from, date) or not isinstance(day_to, date):
            raise MappingError("the leave has no start or end day")
        if isinstance(day_from, datetime) or isinstance(day_to, datetime):
            day_from, day_to = _as_day(day_from), _as_day(day_to)
        if day_to < day_from:
            raise MappingError(f"the leave ends ({day_to}) before it starts ({day_from})")
        values["start"] = day_from.isoformat()
        values["end"] = (day_to + timedelta(days=1)).isoformat()
    else:
        if not isinstance(date_from, datetime) or not isinstance(date_to, datetime):
            raise MappingError("the leave has no start or end time")
        start, end = utc_iso(date_from), utc_iso(date_to)
        if end <= start:
            raise MappingError(f"the leave ends ({end} UTC) before it starts ({start} UTC)")
        values["start"], values["end"] = start, end
    return values


def _as_day(value):
    return value.date() if isinstance(value, datetime) else value
