"""The real server (waitress, in its own process, on 127.0.0.1 and a free port) against requests that
are malformed, odd or hostile, sent byte for byte on raw sockets: each gets a 4xx (408 when it does
not arrive whole within the deadline; a client that hangs up first gets a closed connection), never
a 5xx, never a traceback, and nothing is stored."""

import select
import socket
import struct
import time
import urllib.parse

import pytest
from study_fixtures import answer_form, build, free_port, server_log, start_server

from clipcreate_lib.study import pages, store

TIMEOUT = 2  # the server's request deadline here, in seconds (30 by default)
BOUND = TIMEOUT + 13  # when it must have cut a client off, with room for a loaded machine; trickling takes ~45 s


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    _, _, key = build(root)
    port = free_port()
    process = start_server(root, port, timeout=TIMEOUT)
    yield root, port, pages.Study.load(root / "kit"), key
    process.terminate()
    process.wait(timeout=30)


def _exchange(port: int, data: bytes, wait: float = 10.0, close_write: bool = False) -> bytes:
    """Send ``data`` and read until the server closes the connection (or ``wait`` seconds pass)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as connection:
        connection.sendall(data)
        if close_write:
            connection.shutdown(socket.SHUT_WR)
        received = b""
        try:
            while chunk := connection.recv(65536):
                received += chunk
        except TimeoutError:
            pass
        return received


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.") else 0


def _post(path: str, body: bytes, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


def _consented(port: int, rater: str) -> None:
    body = urllib.parse.urlencode({"consent": "yes", "PROLIFIC_PID": rater}).encode()
    response = _exchange(port, _post("/consent", body, f"Content-Length: {len(body)}", _FORM))
    assert _status(response) == 303


def _assert_clean(root) -> None:
    log = server_log(root)
    assert "Traceback" not in log and "Error" not in log, log


_FORM = "Content-Type: application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    "lengths",
    [
        ["²"],  # a Unicode digit: str.isdigit() accepts it, int() does not
        ["٣"],  # Arabic-Indic three
        ["-1"],
        ["abc"],
        ["1e3"],
        [" "],
        ["5", "7"],  # two lengths that disagree
        ["5, 5"],
    ],
)
def test_a_length_that_is_not_one_count_is_refused(served, lengths):
    root, port, study, _ = served
    body = b"rater=p1&image=x"
    response = _exchange(port, _post("/answer", body, *(f"Content-Length: {n}" for n in lengths), _FORM))
    assert _status(response) == 400, response
    _assert_clean(root)


def test_length_and_chunked_together_and_a_garbage_request_line_are_refused(served):
    root, port, _, _ = served
    both = _post("/answer", b"0\r\n\r\n", "Content-Length: 5", "Transfer-Encoding: chunked", _FORM)
    for request in (
        both,
        b"GARBAGE\r\n\r\n",
        b"GET /\x00 HTTP/1.1\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
    ):
        assert 400 <= _status(_exchange(port, request)) < 500, request
    _assert_clean(root)


def test_an_oversized_body_is_refused_before_it_is_read(served):
    root, port, _, _ = served
    response = _exchange(port, _post("/answer", b"rater=p1", "Content-Length: 100000000", _FORM))
    assert _status(response) == 413
    _assert_clean(root)


def test_head_is_answered_without_a_body_and_unknown_methods_get_405(served):
    root, port, study, _ = served
    image = study.images[0]
    for path in ("/", f"/images/{image}.png"):
        response = _exchange(port, f"HEAD {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        head, _, body = response.partition(b"\r\n\r\n")
        assert _status(response) == 200 and body == b"" and b"Content-Length: " in head, path
    for method, path in (("FOO", "/"), ("DELETE", "/answer"), ("PUT", "/rate"), ("PATCH", f"/images/{image}.png")):
        response = _exchange(port, f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        assert _status(response) == 405 and b"Allow: " in response, (method, path)
    _assert_clean(root)


def test_only_the_studys_images_are_served(served):
    root, port, study, _ = served
    (root / "secret.png").write_bytes(b"secret")
    response = _exchange(port, f"GET /images/{study.images[0]}.png HTTP/1.1\r\nConnection: close\r\n\r\n".encode())
    assert _status(response) == 200
    assert response.endswith((root / "kit" / "images" / f"{study.images[0]}.png").read_bytes())
    for path in [
        "/images/../key/key.csv",
        "/images/..%2Fsecret.png",
        "/images/%2e%2e/%2e%2e/secret.png",
        "/images/..%2F..%2Fkey%2Fkey.csv",
        "/../secret.png",
        "/kit/study.json",
        "/images/study.json",
        f"/images/{study.images[0]}.png/../../secret.png",
        "/images/",
        "/survey.sqlite",
        "/etc/passwd",
    ]:
        response = _exchange(port, f"GET {path} HTTP/1.1\r\nConnection: close\r\n\r\n".encode())
        assert _status(response) in (400, 404) and b"secret" not in response, path
    _assert_clean(root)


def test_a_body_cut_short_and_a_slow_client_are_cut_off_within_a_bounded_time(served):
    root, port, study, _ = served
    _consented(port, "slow1")
    body = urllib.parse.urlencode(answer_form("slow1", study.pages("slow1")[0])).encode()
    request = _post("/answer", body, f"Content-Length: {len(body)}", _FORM)
    started = time.monotonic()
    timed_out = _exchange(port, request[:-10], wait=BOUND + 5)  # never whole: 408, then closed
    assert _status(timed_out) == 408 and b"Connection: close" in timed_out
    assert time.monotonic() - started < BOUND
    assert _exchange(port, request[:-10], close_write=True) == b""  # the client gave up first
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:  # one byte every 0.2 s
        started, sent, answer = time.monotonic(), 0, b""
        while sent < len(request) and time.monotonic() - started < BOUND:
            if select.select([connection], [], [], 0.2)[0]:  # the server answered (or closed)
                answer = connection.recv(65536)
                break
            connection.sendall(request[sent : sent + 1])
            sent += 1
        elapsed = time.monotonic() - started
    assert sent < len(request) and elapsed < BOUND, f"a slow client trickled on for {elapsed:.1f} s"
    assert _status(answer) == 408  # its deadline counts from its first byte, not its last
    assert store.AnswerStore(root / "survey.sqlite").answered(study.kit, "slow1") == set()
    _assert_clean(root)


def test_bad_forms_and_a_client_hanging_up_get_no_5xx_and_no_traceback(served):
    root, port, study, _ = served
    _consented(port, "p2")
    page = study.pages("p2")[0]
    for body in (b"\xff\xfe\x00", b"rater=p2&image=" + page.encode() + b"&app=%ff", b"%%%&&&==", b"rater=p2&image=%00"):
        response = _exchange(port, _post("/answer", body, f"Content-Length: {len(body)}", _FORM))
        assert 400 <= _status(response) < 500, body
    for path in ("/rate?rater=%ff%fe", "/rate?rater=" + "a" * 5000, "/instructions", "/?PROLIFIC_PID=%00"):
        response = _exchange(port, f"GET {path} HTTP/1.1\r\nConnection: close\r\n\r\n".encode())
        assert _status(response) < 500, path
    for _ in range(5):  # ask for a page, then hang up at once
        with socket.create_connection(("127.0.0.1", port)) as connection:
            connection.sendall(f"GET /images/{page}.png HTTP/1.1\r\n\r\n".encode())
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset
    assert _status(_exchange(port, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")) == 200  # still serving
    assert store.AnswerStore(root / "survey.sqlite").answered(study.kit, "p2") == set()
    _assert_clean(root)
