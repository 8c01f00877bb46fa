"""Liveness as deadlines in the sans-I/O engine: the engine says when
something is due and what to do then; the driver owns the clock and the
one timer.  Times here are made up (any monotonic clock in seconds)."""
import pytest

from picows_like import _engine

E = _engine.ERRORS


def opened(interval=10.0, timeout=4.0, periodic=False, role=_engine.SERVER):
    engine = _engine.WSEngine(role, _engine.OPEN)
    engine.ping_interval = interval
    engine.ping_timeout = timeout
    engine.ping_periodically = periodic
    engine.last_read = engine.ping_sent_at = 100.0
    return engine


def test_no_liveness_no_deadline():
    engine = _engine.WSEngine(_engine.SERVER, _engine.OPEN)
    assert engine.deadline() is None
    assert engine.check_deadline(1e9) is None


def test_idle_ping_then_its_reply_deadline():
    engine = opened()
    assert engine.deadline() == 110.0
    assert engine.check_deadline(109.9) is None       # early: nothing due
    engine.last_read = 105.0                          # input came meanwhile
    assert engine.deadline() == 115.0
    assert engine.check_deadline(110.0) is None
    assert engine.check_deadline(115.0) == "ping"     # the driver sends it
    assert engine.deadline() == 119.0                 # the PONG must come by then
    assert engine.notify_pong() is True
    assert engine.notify_pong() is False              # nothing awaited any more
    engine.last_read = 116.0
    assert engine.deadline() == 126.0


def test_periodic_pings_keep_their_period_whatever_the_input():
    engine = opened(periodic=True)
    engine.last_read = 109.0
    assert engine.deadline() == 110.0
    assert engine.check_deadline(110.5) == "ping"
    engine.notify_pong()
    assert engine.deadline() == 120.5


def test_a_missing_pong_fails_the_connection_with_1001():
    engine = opened()
    assert engine.check_deadline(110.0) == "ping"
    assert engine.check_deadline(113.9) is None
    assert engine.check_deadline(114.0) == "failed"
    assert engine.error_kind == E["PING_TIMEOUT"]
    assert engine.close_sent == (1001, b"no PONG in time")
    assert engine.state == _engine.CLOSING
    assert engine.deadline() is None                   # nothing more is due


def test_no_ping_once_closing_or_while_held():
    engine = opened()
    engine.pings_held = True                           # a driver measures RTT
    assert engine.deadline() is None
    engine.pings_held = False
    engine.send_close(1000)
    assert engine.deadline() is None
    assert engine.check_deadline(1e9) is None


def test_the_opening_handshake_has_a_deadline():
    engine = _engine.WSEngine(_engine.SERVER, _engine.CONNECTING)
    assert engine.deadline() is None                   # none set: wait forever
    engine.handshake_deadline = 50.0
    assert engine.deadline() == 50.0
    assert engine.check_deadline(49.0) is None
    assert engine.check_deadline(50.0) == "failed"
    assert engine.error_kind == E["HANDSHAKE_TIMEOUT"]
    assert engine.data_to_send() == [b""]              # no CLOSE before the upgrade: EOF
    assert engine.deadline() is None


@pytest.mark.parametrize("timeout", [0.0, -1.0])
def test_no_reply_deadline_without_a_timeout(timeout):
    engine = opened(timeout=timeout)
    assert engine.check_deadline(110.0) == "ping"
    assert engine.deadline() is None


def test_a_close_deadline_comes_before_anything_else():
    engine = opened()
    engine.send_close(1000)
    engine.close_deadline = 105.0                      # the driver's close timeout
    assert engine.deadline() == 105.0
    assert engine.check_deadline(104.0) is None
    assert engine.check_deadline(105.0) == "close_timeout"   # the driver drops the socket
    assert engine.deadline() is None                   # reported once
