"""At most one log line per reason and interval, with the count of those left out.

Anyone on the internet can post to the notification URL: a warning per forged post would let
them fill the server log. The first occurrence of a reason is logged at once; later ones within
``interval`` seconds are only counted and reported with the next line logged for that reason.
"""

import threading
import time


class LogThrottle:
    def __init__(self, interval=60.0, clock=time.monotonic):
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._last = {}  # reason -> time of the last line logged
        self._held = {}  # reason -> occurrences not logged since

    def reset(self):
        with self._lock:
            self._last.clear()
            self._held.clear()

    def log(self, logger, level, reason, message, *args):
        """Log ``message % args`` for ``reason`` unless one was logged within the interval.

        Returns True when the line was written. The line written after a quiet period says how
        many occurrences were left out meanwhile.
        """
        now = self.clock()
        with self._lock:
            last = self._last.get(reason)
            if last is not None and now - last < self.interval:
                self._held[reason] = self._held.get(reason, 0) + 1
                return False
            self._last[reason] = now
            held = self._held.pop(reason, 0)
        if held:
            message += " (%d more like it since the previous line, not logged)"
            args = (*args, held)
        logger.log(level, message, *args)
        return True
