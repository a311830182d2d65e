"""Names shared by the models, the services and the tools (pure Python, no ``odoo`` import).

One place for the strings that must agree everywhere: a second copy drifts.
"""

# Prefix of the addon's ir.config_parameter keys.
PARAM = "office365_calendar_sync."

# Context key set while the sync writes what it read from Outlook, so that the write is not
# queued back to Outlook as an Odoo change.
CTX_INBOUND = "office365_calendar_sync_inbound"

# The Outlook category the addon puts on every event it creates, and the one its filters know.
CATEGORY_NAME = "Odoo"

# The time zone used when a user has none.
DEFAULT_TZ = "UTC"


def user_tz(user):
    """The IANA name of ``user``'s time zone (any object with a ``tz`` attribute, or None)."""
    return (user and user.tz) or DEFAULT_TZ


# The three sync options a user starts and stops, in the order the screens show them.
OPTIONS = ("activities", "events", "holidays")

# The option each kind of pushed record belongs to (``office365.link.kind``).
KIND_OPTION = {"activity": "activities", "meeting": "activities", "leave": "holidays"}
