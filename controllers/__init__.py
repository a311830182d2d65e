from . import webhook
from . import main
