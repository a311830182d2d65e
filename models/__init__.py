from . import res_users_settings
from . import res_users
from . import office365_sync_log
from . import office365_sync_log_line
from . import office365_link
from . import office365_sync_mixin
from . import office365_account
from . import office365_inbound_event
