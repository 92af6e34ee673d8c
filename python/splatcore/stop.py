"""Stopping a run cleanly on Ctrl-C (SIGINT) or SIGTERM (`timeout`, `docker stop`,
job schedulers).

Inside :func:`graceful_stop` the first signal only sets a flag: the training
loop finishes its step and stops, and the outputs are written in full (no
write is cut in the middle). A second signal raises KeyboardInterrupt at once,
for a user who does not want to wait; writes in progress then delete their
temporary file (splatcore.io.atomic).
"""
import contextlib
import signal
import threading


class StopFlag:
    """Set by the first SIGINT/SIGTERM; `signum` says which."""

    def __init__(self):
        self.signum = None

    @property
    def requested(self):
        return self.signum is not None

    @property
    def exit_code(self):
        """The shell's code for a run ended by this signal (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + (self.signum or signal.SIGINT)

    def _handler(self, signum, frame):
        if self.signum is not None:
            raise KeyboardInterrupt  # second signal: stop now
        self.signum = signum


_active = None  # the StopFlag of the outermost graceful_stop


@contextlib.contextmanager
def graceful_stop():
    """Yields a StopFlag; nested uses share the outermost one. Outside the main
    thread (where Python cannot install handlers) the flag is never set and
    signals keep their usual behaviour."""
    global _active
    if _active is not None:
        yield _active
        return
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    sigs = [signal.SIGINT] + ([signal.SIGTERM] if hasattr(signal, "SIGTERM") else [])
    old = {s: signal.signal(s, flag._handler) for s in sigs}
    _active = flag
    try:
        yield flag
    finally:
        _active = None
        for s, h in old.items():
            signal.signal(s, signal.SIG_DFL if h is None else h)


__all__ = ["StopFlag", "graceful_stop"]
