# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The body cap of the public routes and the throttled refusal log."""

import io
import logging

import pytest

from services.bodylimit import BodyTooLarge, CappedStream
from services.logthrottle import LogThrottle


class CountingStream(io.RawIOBase):
    """An endless body that counts what was read from it."""

    def __init__(self):
        super().__init__()
        self.delivered = 0

    def readable(self):
        return True

    # A stream's read(), not an Odoo model's: there is no super() behaviour to keep.
    def read(self, size=-1):  # pylint: disable=method-required-super
        size = 65536 if size is None or size < 0 else size
        self.delivered += size
        return b"x" * size

    def readline(self, size=-1):
        return self.read(size)


def test_capped_stream_reads_up_to_the_limit():
    capped = CappedStream(io.BytesIO(b"a" * 100), 100)
    assert capped.read() == b"a" * 100
    assert capped.read() == b""


def test_capped_stream_stops_an_endless_body_one_byte_past_the_limit():
    source = CountingStream()
    capped = CappedStream(source, 1000)
    with pytest.raises(BodyTooLarge):
        while capped.read(300):
            pass
    assert source.delivered == 1001, "never more than one byte past the limit is read"
    source = CountingStream()
    with pytest.raises(BodyTooLarge):
        CappedStream(source, 1000).read()
    assert source.delivered == 1001
    source = CountingStream()
    with pytest.raises(BodyTooLarge):
        CappedStream(source, 10).readline()
    assert source.delivered == 11


def test_capped_stream_raises_the_given_error():
    class TooLarge(Exception):
        pass

    with pytest.raises(TooLarge):
        CappedStream(io.BytesIO(b"a" * 11), 10, TooLarge).read()


def test_log_throttle_one_line_per_reason_and_interval(caplog):
    now = [0.0]
    throttle = LogThrottle(interval=60, clock=lambda: now[0])
    logger = logging.getLogger("test.throttle")
    with caplog.at_level(logging.WARNING, logger="test.throttle"):
        assert throttle.log(logger, logging.WARNING, "forged", "refused %d", 1)
        for _index in range(9):
            assert not throttle.log(logger, logging.WARNING, "forged", "refused %d", 1)
        assert throttle.log(logger, logging.WARNING, "other", "other reason")
        now[0] = 61
        assert throttle.log(logger, logging.WARNING, "forged", "refused %d", 2)
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        "refused 1",
        "other reason",
        "refused 2 (9 more like it since the previous line, not logged)",
    ]
