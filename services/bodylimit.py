"""Read at most a fixed number of bytes of a request body, whatever its framing.

A ``Content-Length`` larger than the limit is refused before a byte is read (by the caller); a
chunked body (no length) is read through :class:`CappedStream`, which fails as soon as the limit
is passed.
Werkzeug 2.2 (Odoo 18) applies ``max_content_length`` to declared lengths only, and hands a
chunked body over unbounded.
"""

import io


class BodyTooLarge(Exception):
    """The body is (or declares to be) larger than the limit."""


class CappedStream(io.RawIOBase):
    """A read-only stream over ``stream`` that raises ``error`` once more than ``limit`` bytes
    were asked for and delivered. ``error`` is the exception class (or a factory) raised."""

    def __init__(self, stream, limit, error=BodyTooLarge):
        super().__init__()
        self._stream = stream
        self._left = limit
        self._error = error

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    # A stream's read(), not an Odoo model's: there is no super() behaviour to keep.
    def read(self, size=-1):  # pylint: disable=method-required-super
        # Never ask the source for more than one byte past the limit: reaching it is the proof
        # that the body is too large, and nothing more is buffered.
        want = self._left + 1 if size is None or size < 0 else min(size, self._left + 1)
        data = self._stream.read(want) if want else b""
        self._left -= len(data)
        if self._left < 0:
            raise self._error()
        return data

    def readline(self, size=-1):
        want = self._left + 1 if size is None or size < 0 else min(size, self._left + 1)
        data = self._stream.readline(want)
        self._left -= len(data)
        if self._left < 0:
            raise self._error()
        return data
