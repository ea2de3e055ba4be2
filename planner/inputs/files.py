"""Reading a user's file safely: regular files only, a size ceiling checked while reading, encoding errors named.

Every input file (scenario, catalog, calibration file, measured points, config.json, safetensors index) goes
through ``read_bytes`` / ``read_text``. A FIFO, a device or a folder is refused from ``os.stat`` before it is
opened (so ``/dev/zero`` or a named pipe can neither hang the planner nor fill its memory); the file is opened with
``O_NONBLOCK`` in case it changed in between, and read in chunks up to ``MAX_FILE_BYTES`` + 1 bytes, so a file that
grows past the ceiling while being read is refused too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from planner.errors import InputError

MAX_FILE_BYTES = 5 * 2**20  # a scenario, catalog or config file larger than 5 MiB is not a hand-written input
_CHUNK = 1 << 16


def _kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def read_bytes(path: str | Path, what: str = "file", limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; InputError for anything else."""
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise InputError(f"{p}: no such {what}") from None
    except OSError as exc:
        raise InputError(f"{p}: cannot read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{p}: is a directory, expected a {what}")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{p}: is {_kind(st.st_mode)}, expected a regular {what}")
    if st.st_size > limit:
        raise InputError(f"{p}: file is {st.st_size / 2**20:.1f} MiB, larger than the {_mib(limit)} limit for a {what}")
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InputError(f"{p}: cannot read ({exc.strerror or exc})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced between stat and open
            raise InputError(f"{p}: is not a regular file, expected a {what}")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise InputError(f"{p}: file grew past the {_mib(limit)} limit for a {what} while being read")
            chunks.append(chunk)
    except OSError as exc:
        raise InputError(f"{p}: cannot read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def read_text(path: str | Path, what: str = "file", limit: int = MAX_FILE_BYTES) -> str:
    """A regular file as UTF-8 text (a UTF-8 byte-order mark is dropped); binary data and bad encodings named."""
    p = Path(path)
    raw = read_bytes(p, what, limit)
    if b"\x00" in raw:
        raise InputError(f"{p}: binary data, expected a text {what}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise InputError(f"{p}:{line}: not UTF-8 text (byte {exc.start}: {raw[exc.start:exc.start + 1]!r}); "
                         "save the file as UTF-8") from None
    return text.removeprefix("\ufeff")


def _mib(n: int) -> str:
    return f"{n / 2**20:g} MiB"
