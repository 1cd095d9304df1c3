"""The survey behind waitress, a production WSGI server: a real listen backlog, a bounded pool of
threads, bounded request sizes, and a deadline on how long one request may take to arrive.

waitress reads requests on one event loop and hands only complete ones to its threads, so a slow
client holds no thread. Its ``channel_timeout`` restarts with every byte, though, so a client that
sends one byte a second would keep its connection forever; ``DeadlineChannel`` counts a request's
time from its first byte instead, which makes the timeout a bound on the whole request.
"""

from __future__ import annotations

import ipaddress
import time

import waitress
from flask import Flask
from waitress.channel import HTTPChannel

from clipcreate_lib.study.app import MAX_FORM_BYTES

BACKLOG = 1024  # connections the kernel queues before accept (socketserver's 5 reset under load)
CONNECTIONS = 500  # open connections at most; more wait in the backlog


# What a client whose request did not arrive whole by the deadline is told before its connection closes.
_TIMED_OUT_BODY = b"The request did not arrive whole in time.\r\n"
TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_TIMED_OUT_BODY), _TIMED_OUT_BODY)
)


class DeadlineChannel(HTTPChannel):
    """A connection on which each request must arrive whole within ``channel_timeout`` seconds; one
    that does not is answered 408 and closed (waitress itself would close it without a word)."""

    request_began = 0.0

    def received(self, data: bytes) -> bool:
        if self.request is None:  # the first bytes of a request
            self.request_began = time.time()
        more = super().received(data)
        if self.request is not None:  # still arriving: its age counts, not the last byte's
            self.last_activity = min(self.last_activity, self.request_began)
        return more

    def handle_write(self) -> None:
        if self.will_close and self.request is not None and not self.requests:
            # the server's maintenance closes a channel past its deadline: a request part-way in
            # gets its 408 first (sent, then closed, by waitress's own flush below)
            self.request, self.will_close, self.close_when_flushed = None, False, True
            self.write_soon(TIMED_OUT)
        super().handle_write()


def make_server(app: Flask, host: str = "127.0.0.1", port: int = 8765, threads: int = 8, timeout: int = 30):
    """A waitress server of ``app`` bound to ``host``:``port`` (0: a free port, ``effective_port``);
    ``run()`` serves until interrupted. A request must arrive within ``timeout`` seconds, an idle
    connection is closed after as long, and bodies over MAX_FORM_BYTES get 413."""
    server = waitress.create_server(
        app,
        host=host,
        port=port,
        threads=threads,
        backlog=BACKLOG,
        connection_limit=CONNECTIONS,
        channel_timeout=timeout,
        cleanup_interval=max(1, min(5, timeout // 2)),  # how often timed-out connections are looked for
        max_request_body_size=MAX_FORM_BYTES,
        max_request_header_size=16384,
        log_socket_errors=False,  # a client hanging up is no error of ours
        expose_tracebacks=False,
        asyncore_use_poll=True,  # select() stops at 1024 descriptors
        ident="clipcreate-survey",
    )
    server.channel_class = DeadlineChannel
    return server


def is_local(host: str) -> bool:
    """Whether ``host`` listens on this machine only (a loopback address or 'localhost')."""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
