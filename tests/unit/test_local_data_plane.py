"""The local runner's data plane delivers every byte a bundle's input has.

Beam 2.77's FnApiRunner flushes its gRPC data streams from a timer thread; the flush hands
the buffer to the send queue and then clears it, without a lock against the writer, so
bytes written while the hand-over blocks are dropped. At 3M pairs that dropped 1-4% of the
pairs going into dedup_text (benchmarks/results/local_data_plane_2026-12-02.json).
``curate.runner`` turns the timer off; these tests reproduce the loss in the stream itself
(no runner: a slow send is a flush callback that blocks until the writes are done)."""

import threading

from apache_beam.runners.portability.fn_api_runner import worker_handlers
from apache_beam.runners.worker import data_plane

import curate.runner  # noqa: F401  (sets the data plane up)

CHUNK = b"x" * 1000


def _send_while_a_flush_is_slow(time_limit_ms: int, wait_for_flush_s: float) -> tuple[int, int]:
    """Write one chunk, wait for a timed flush to start sending it (if one comes), write ten
    more while that send is still blocked, close. (bytes written, bytes delivered)."""
    delivered = []
    sending, written = threading.Event(), threading.Event()

    def slow_send(data: bytes):
        if not data:  # as the gRPC channel's send does: a timer tick on an empty buffer
            return
        delivered.append(len(data))
        sending.set()
        written.wait(5)  # a full send queue: it frees up only after the writes below

    stream = data_plane.ClosableOutputStream.create(lambda data: delivered.append(len(data)), slow_send, time_limit_ms)
    stream.write(CHUNK)
    sending.wait(wait_for_flush_s)
    for _ in range(10):
        stream.write(CHUNK)
    written.set()
    stream.close()  # waits for the flush in progress (Beam's lock), then sends what is left
    return 11 * len(CHUNK), sum(delivered)


def test_beams_timed_flush_drops_what_is_written_during_a_slow_send():
    """Why the timer is off. If a Beam upgrade makes this pass no more (the flush locked
    against writes), ``no_timed_flushes_on_local_data_plane`` can go."""
    written, delivered = _send_while_a_flush_is_slow(50, wait_for_flush_s=5)
    assert delivered == len(CHUNK) < written


def test_local_runner_streams_deliver_everything():
    assert worker_handlers.DATA_BUFFER_TIME_LIMIT_MS == 0
    # The stream every gRPC data channel of the local runner makes (_GrpcDataChannel's
    # output_stream passes the servicer's time limit, i.e. DATA_BUFFER_TIME_LIMIT_MS). With
    # Beam's 1,000 ms a flush would come within the wait and the ten chunks would be lost.
    written, delivered = _send_while_a_flush_is_slow(worker_handlers.DATA_BUFFER_TIME_LIMIT_MS, wait_for_flush_s=1.5)
    assert delivered == written
