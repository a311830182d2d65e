from . import test_install
from . import test_webhook
from . import test_scaleout
from . import test_activities
from . import test_holidays
from . import test_inbound_events
from . import test_preferences
from . import test_meetings
