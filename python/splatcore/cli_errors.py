"""How the command line reports a failure: one line for a user error (a bad
file or argument, exit code 2), a short message for an internal error (exit
code 1) with the traceback only under --debug. SIGTERM becomes
KeyboardInterrupt, so that writes in progress delete their temporary files
(training installs its own graceful handler, splatcore.stop)."""
import argparse
import signal
import sys
import traceback

# Errors that come from what the user gave us: a file that is missing, not
# readable or not what it claims to be, an argument out of range, input nested
# too deeply (RecursionError) or too large to represent (OverflowError, MemoryError).
USER_ERRORS = (OSError, ValueError, TypeError, OverflowError, RecursionError, MemoryError,
               UnicodeError, LookupError)


def describe(e):
    """One line: the message, with the file for OS errors that carry one."""
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        where = f"{e.filename}" + (f" -> {e.filename2}" if e.filename2 else "")
        return f"{where}: {e.strerror}"
    if isinstance(e, RecursionError):
        return f"input nested too deeply to read ({e})"
    if isinstance(e, MemoryError):
        return f"not enough memory ({e or 'the input asks for more than is available'})"
    if isinstance(e, KeyError) and e.args:
        return f"missing key {e.args[0]!r}"
    return str(e) or type(e).__name__


def int_in(lo, hi):
    """An argparse type: an integer in lo..hi, else argparse's one-line usage error
    (exit 2) naming the option, instead of a failure deep inside (10**30 steps)."""
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"expected an integer in {lo}..{hi}, got {v}")
        return v
    parse.__name__ = "integer"
    return parse


def _sigterm(signum, frame):
    raise KeyboardInterrupt


def run(command, func, args, debug=False):
    """Runs func(args) and turns what it raises into an exit code and a message."""
    old = None
    if hasattr(signal, "SIGTERM"):
        try:
            old = signal.signal(signal.SIGTERM, _sigterm)
        except ValueError:  # not the main thread
            old = None
    try:
        return func(args)
    except KeyboardInterrupt:
        print(f"splatcore {command}: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as e:
        if debug:
            traceback.print_exc()
        print(f"splatcore {command}: error: {describe(e)}", file=sys.stderr)
        return 2
    except Exception as e:  # a bug: say so briefly, the traceback is for --debug
        if debug:
            traceback.print_exc()
        print(f"splatcore {command}: internal error: {type(e).__name__}: {e}"
              + ("" if debug else " (run with --debug for the traceback)"), file=sys.stderr)
        return 1
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)


__all__ = ["USER_ERRORS", "describe", "int_in", "run"]
