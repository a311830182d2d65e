from . import webhook
from . import main
from . import activity
