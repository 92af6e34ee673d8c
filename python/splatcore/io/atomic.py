"""Atomic file writes: write to a temporary file in the target's directory, then rename.

Every writer in :mod:`splatcore.io` goes through :func:`atomic_write`, so a crash,
an exception or Ctrl-C in the middle of writing leaves either the old file (if one
existed) or no file at all, never a half-written one.
"""
from __future__ import annotations

import contextlib
import os
import re
import tempfile
from typing import IO, Iterator, Union

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text", "remove_stale_temporaries"]


def _current_umask() -> int:
    # Linux exposes the umask without changing it; elsewhere set-and-restore once.
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextlib.contextmanager
def atomic_write(path: PathLike, mode: str = "wb", *, encoding: str = "utf-8",
                 fsync: bool = True) -> Iterator[IO]:
    """Context manager yielding a file object; on a clean exit it replaces ``path``.

    ``mode`` is ``"wb"`` (binary) or ``"w"`` (text, ``encoding``, ``\\n`` newlines).
    The temporary file lives next to ``path`` (same file system, so the final
    ``os.replace`` is atomic) and is deleted if the block raises. The new file gets
    the usual permissions (``0o666`` minus the umask), or the old file's mode when
    it replaces one.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write: mode must be 'wb' or 'w', got {mode!r}")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot write {path!r}: directory {directory!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=directory)
    try:
        if mode == "w":
            f = os.fdopen(fd, "w", encoding=encoding, newline="\n")
        else:
            f = os.fdopen(fd, "wb")
        with f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        try:
            perm = os.stat(path).st_mode & 0o7777
        except OSError:
            perm = 0o666 & ~_UMASK
        with contextlib.suppress(OSError):
            os.chmod(tmp, perm)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (UTF-8, ``\\n`` newlines)."""
    with atomic_write(path, "w", encoding=encoding) as f:
        f.write(text)


# mkstemp's names above: "." + target name + "." + 8 characters + ".tmp".
_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


def remove_stale_temporaries(directory: PathLike) -> list:
    """Delete the temporary files atomic_write left in ``directory`` when the
    process was killed hard (SIGKILL, power loss) in the middle of a write.
    Returns the names removed. Call it before writing there again."""
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            if _TEMP_NAME.match(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed.append(entry.name)
    return removed
