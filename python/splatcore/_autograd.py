"""Grad-mode context managers (also usable as decorators)."""
import functools

from . import _core

is_grad_enabled = _core.is_grad_enabled


class _GradMode:
    _enabled = True

    def __enter__(self):
        self._prev = _core.is_grad_enabled()
        _core.set_grad_enabled(self._enabled)
        return self

    def __exit__(self, *exc):
        _core.set_grad_enabled(self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Operations inside record no history: `with splatcore.no_grad(): ...`."""

    _enabled = False


class enable_grad(_GradMode):
    """Re-enables recording inside a no_grad block."""

    _enabled = True
