#!/usr/bin/python3
"""Writes the seed corpus of //server:connection_fuzzer.

Each seed is a script of (op, argument) byte pairs; see the header of
server/connection_fuzzer.cc for the ops and kCanned for the canned
requests. Run from the repository root:

  /usr/bin/python3 server/testdata/make_connection_fuzzer_corpus.py

Seeds found by the fuzzer itself (regressions) are added as files next to
these and are not written by this script.
"""
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                   "connection_fuzzer_corpus")

# Ops.
RAW, CANNED, PIECE, ALL, EOF, RESET, TAKE, WINDOW0, UNLIMITED, CLOCK, \
    WORKER, SEND, DROP, STREAM, DRAIN, STOP, CLOSE, REQUEST = range(18)

# Canned requests (indices into kCanned).
GET_HELLO, HEAD_HELLO, POST_ECHO, CHUNKED_ECHO, EXPECT_ECHO_HEAD, \
    EXPECT_ECHO_BODY, GET_ASYNC, GET_WORK, GET_STREAM, GET_STREAM_10, \
    HEAD_STREAM, GET_HELLO_CLOSE, GET_HELLO_10, GET_ASYNC_10_KEEPALIVE, \
    GET_404, POST_405, BREW_501, EXPECT_404, POST_413, GET_431, BAD_CHUNK, \
    GET_204, POST_ASYNC, OPTIONS_STAR, GET_WORK_1MS, EMPTY_LINE, GET_505, \
    CL_AND_TE, HEAD_404, HEAD_WORK, EXPECT_WITH_BODY, \
    GET_STREAM_CLOSE = range(32)


def ms(n):
    """Clock argument for n * 10 ms (n < 100)."""
    assert 0 <= n < 100
    return n


def tenths(n):
    """Clock argument for n * 100 ms (n < 100)."""
    assert 0 <= n < 100
    return 100 + n


def secs(n):
    """Clock argument for n seconds (n < 56)."""
    assert 0 <= n < 56
    return 200 + n


def raw(data):
    """Ops writing `data` (bytes) raw, in pieces of at most 255 bytes."""
    ops = []
    for i in range(0, len(data), 255):
        piece = data[i:i + 255]
        ops.append((RAW, len(piece), piece))
    return ops


def encode(ops):
    out = bytearray()
    for op in ops:
        out += bytes([op[0], op[1]])
        if len(op) > 2:
            out += op[2]
    return bytes(out)


def pick(index, kind=0):
    """Argument choosing waiting Responder `index` and answer `kind`."""
    return index * 16 + kind


SEEDS = {
    "get_keepalive": [(REQUEST, GET_HELLO), (REQUEST, GET_HELLO)],
    "pipelined_gets": [(CANNED, GET_HELLO), (CANNED, HEAD_HELLO),
                       (CANNED, GET_HELLO), (CANNED, GET_404), (ALL, 0)],
    "chunked_post": [(REQUEST, CHUNKED_ECHO), (WORKER, 0), (CLOCK, 0)],
    "chunked_post_bytewise": [(CANNED, CHUNKED_ECHO)] + [(PIECE, 0)] * 40 +
                             [(WORKER, 0), (CLOCK, 0)],
    "post_in_pieces": [(CANNED, POST_ECHO), (PIECE, 3), (PIECE, 10),
                       (PIECE, 0), (PIECE, 40), (WORKER, 0), (CLOCK, 0)],
    "expect_continue": [(REQUEST, EXPECT_ECHO_HEAD), (REQUEST, EXPECT_ECHO_BODY),
                        (WORKER, 0), (CLOCK, 0)],
    "expect_with_body": [(REQUEST, EXPECT_WITH_BODY), (WORKER, 0), (CLOCK, 0)],
    "expect_404": [(REQUEST, EXPECT_404), (CANNED, GET_HELLO), (ALL, 0),
                   (CLOCK, secs(3))],
    "oversized_header": [(REQUEST, GET_431), (REQUEST, GET_HELLO)],
    "oversized_body": [(REQUEST, POST_413)],
    "bad_chunk_size": [(REQUEST, BAD_CHUNK), (CLOCK, secs(3))],
    "content_length_and_chunked": [(REQUEST, CL_AND_TE)],
    "http_2_0": [(REQUEST, GET_505)],
    "head_requests": [(REQUEST, HEAD_HELLO), (REQUEST, HEAD_404),
                      (REQUEST, HEAD_STREAM), (STREAM, 0), (REQUEST, HEAD_WORK),
                      (WORKER, 0), (SEND, 0), (CLOCK, 0)],
    "half_close_after_pipelined": [(CANNED, GET_HELLO), (CANNED, POST_ECHO),
                                   (CANNED, GET_ASYNC), (EOF, 0), (ALL, 0),
                                   (WORKER, 0), (SEND, 0), (CLOCK, 0)],
    "slow_client_window0": [(WINDOW0, 0), (REQUEST, GET_HELLO),
                            (REQUEST, CHUNKED_ECHO), (WORKER, 0), (CLOCK, 0),
                            (TAKE, 1), (CLOCK, secs(2)), (TAKE, 1),
                            (CLOCK, secs(4))],
    # A client that pipelines and never reads: reading stops once answers
    # pile up unsent past max_unsent_bytes; they all go once it reads.
    "pipeline_no_reader": [(WINDOW0, 0)] + [(CANNED, GET_HELLO)] * 100 +
                          [(ALL, 0), (CLOCK, 0), (ALL, 0), (TAKE, 200),
                           (ALL, 0), (UNLIMITED, 0), (ALL, 0)],
    # ...and stays stopped while part of them went (the kernel took some,
    # then the write timeout's check found progress): reading resumes only
    # once the output drained, not when it dips below the limit.
    "pipeline_no_reader_partial": [(WINDOW0, 0)] + [(REQUEST, GET_HELLO)] * 20 +
                                  [(TAKE, 10), (CLOCK, secs(4)), (ALL, 0),
                                   (TAKE, 10), (CLOCK, secs(4)), (ALL, 0),
                                   (CLOCK, 0), (UNLIMITED, 0), (ALL, 0)],
    "pipeline_full_stash": [(CANNED, GET_ASYNC)] * 4 + [(CANNED, GET_HELLO),
                            (ALL, 0), (SEND, 0), (CLOCK, 0), (SEND, 0),
                            (CLOCK, 0), (SEND, 0), (CLOCK, 0), (SEND, 0),
                            (CLOCK, 0)],
    "async_out_of_order": [(REQUEST, GET_ASYNC), (REQUEST, POST_ASYNC),
                           (SEND, pick(1)), (CLOCK, 0), (SEND, pick(0, 4)),
                           (CLOCK, 0)],
    "stream_chunked": [(REQUEST, GET_STREAM), (STREAM, 0), (STREAM, 21),
                       (CLOCK, 0), (STREAM, 2), (CLOCK, 0), (REQUEST, GET_HELLO)],
    "stream_http10": [(REQUEST, GET_STREAM_10), (STREAM, 0), (STREAM, 3),
                      (CLOCK, 0), (STREAM, 2), (CLOCK, 0)],
    "stream_cut_off": [(REQUEST, GET_STREAM), (STREAM, 0), (STREAM, 5),
                       (CLOCK, 0), (DROP, 0), (CLOCK, 0)],
    "stream_backpressure": [(WINDOW0, 0), (REQUEST, GET_STREAM), (STREAM, 0)] +
                           [(STREAM, 203), (CLOCK, 0)] * 4 +
                           [(TAKE, 40), (CLOCK, 0), (UNLIMITED, 0),
                            (STREAM, 2), (CLOCK, 0)],
    "stream_204_206": [(REQUEST, GET_STREAM), (STREAM, 1), (CLOCK, 0),
                       (REQUEST, GET_STREAM_CLOSE), (STREAM, 2), (STREAM, 3),
                       (CLOCK, 0), (STREAM, 4), (CLOCK, 0)],
    # The handler's Connection: close (an answer, a stream head; argument
    # bit 0x80): its answer is the last, the ones behind it are dropped.
    "handler_close": [(CANNED, GET_ASYNC), (CANNED, GET_HELLO), (CANNED, GET_ASYNC),
                      (ALL, 0), (SEND, 0x80), (CLOCK, 0), (EOF, 0), (CLOCK, 0)],
    "stream_head_close": [(CANNED, GET_STREAM), (CANNED, GET_HELLO), (ALL, 0),
                          (STREAM, 0x83), (STREAM, 21), (STREAM, 2), (CLOCK, 0)],
    "deadline_in_queue": [(REQUEST, GET_WORK), (CLOCK, tenths(4)),
                          (WORKER, 0), (CLOCK, 0)],
    "deadline_late_answer": [(REQUEST, GET_WORK), (WORKER, 0),
                             (CLOCK, tenths(4)), (SEND, 0), (CLOCK, 0)],
    "budget_1ms": [(REQUEST, GET_WORK_1MS), (WORKER, 0), (CLOCK, ms(1))],
    "queue_full": [(CANNED, GET_WORK)] * 3 + [(CANNED, POST_ECHO)] * 2 +
                  [(ALL, 0), (WORKER, 0), (WORKER, 0), (SEND, 0), (SEND, 0),
                   (CLOCK, 0), (WORKER, 0), (CLOCK, 0)],
    "header_timeout": raw(b"GET /hel") + [(ALL, 0), (CLOCK, secs(3))],
    "head_header_timeout": raw(b"HEAD /hello HTTP/1.1\r\nHo") +
                           [(ALL, 0), (CLOCK, secs(3))],
    "body_stall": raw(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n"
                      b"\r\nabc") + [(ALL, 0), (CLOCK, secs(6))],
    "idle_timeout": [(REQUEST, GET_HELLO), (CLOCK, secs(6))],
    "silent_connection": [(CLOCK, secs(3))],
    "drain_busy": [(REQUEST, GET_ASYNC), (DRAIN, 0), (SEND, 0), (CLOCK, 0),
                   (REQUEST, GET_HELLO)],
    "drain_close_idle": [(REQUEST, GET_HELLO), (DRAIN, 1), (REQUEST, GET_HELLO)],
    "stop_with_pending": [(REQUEST, GET_ASYNC), (REQUEST, GET_WORK), (STOP, 0),
                          (WORKER, 0)],
    "reset_with_pending": [(REQUEST, GET_ASYNC), (RESET, 0), (SEND, 0),
                           (CLOCK, 0)],
    "options_405_501": [(REQUEST, OPTIONS_STAR), (REQUEST, POST_405),
                        (REQUEST, BREW_501), (REQUEST, GET_204)],
    "linger_after_error": [(REQUEST, BAD_CHUNK), (REQUEST, GET_HELLO),
                           (CLOCK, secs(1)), (EOF, 0)],
    "connection_close": [(REQUEST, GET_HELLO_CLOSE), (REQUEST, GET_HELLO)],
    "http10": [(REQUEST, GET_HELLO_10), (REQUEST, GET_HELLO)],
    "http10_keepalive": [(REQUEST, GET_ASYNC_10_KEEPALIVE), (SEND, 0),
                         (CLOCK, 0), (REQUEST, GET_HELLO)],
    "responder_dropped": [(REQUEST, GET_ASYNC), (DROP, 0), (CLOCK, 0),
                          (REQUEST, GET_HELLO)],
    "tls_garbage": raw(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03") +
                   [(ALL, 0)],
    "empty_lines": [(CANNED, EMPTY_LINE), (CANNED, EMPTY_LINE),
                    (CANNED, GET_HELLO), (ALL, 0)],
    "head_404_window0": [(WINDOW0, 0), (REQUEST, HEAD_404), (UNLIMITED, 0)],
    "answers_kinds": [(REQUEST, GET_ASYNC)] * 3 +
                     [(SEND, pick(0, 1)), (SEND, pick(0, 2)), (SEND, pick(0, 5)),
                      (CLOCK, 0)],
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, ops in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(encode(ops))
    print(f"{len(SEEDS)} seeds in {OUT}")


if __name__ == "__main__":
    main()
