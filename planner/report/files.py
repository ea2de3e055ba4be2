"""Writing output atomically: a file through a temporary file beside it renamed over it; a folder through a temporary
folder beside it swapped in (``swap_in``) once every file is written.

Modes follow the user's umask like any other tool (``mkstemp`` and ``mkdtemp`` create 0600 and 0700): a file gets
0666 & ~umask, a folder 0777 & ~umask. On any error the temporary is removed and the earlier output is untouched."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from planner.errors import InputError


def _umask() -> int:
    """The process umask (read by setting it and setting it back: os has no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    return 0o666 & ~_umask()


def folder_mode() -> int:
    return 0o777 & ~_umask()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise InputError(f"{parent}: not a directory")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), file_mode())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if not isinstance(exc, OSError):
            raise
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_folder(out: Path, files: dict[str, str], also: Callable[[Path], None] | None = None) -> None:
    """Write text ``files`` (then ``also(tmp)``, for binary ones) into a temporary folder beside ``out`` and swap it in."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: is a file, expected a folder")
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
        os.chmod(tmp, folder_mode())
    except OSError as exc:
        raise InputError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None
    try:
        for name, text in files.items():
            (tmp / name).write_text(text, encoding="utf-8")  # open() creates with 0666 & ~umask
        if also is not None:
            also(tmp)
        swap_in(tmp, out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InputError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def swap_in(tmp: Path, out: Path) -> None:
    """Replace folder ``out`` by ``tmp``; the old folder survives until the new one is in place."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{tmp.name.rsplit('-', 1)[-1]}"
        out.rename(old)
    try:
        tmp.rename(out)
    except OSError as exc:
        if old is not None:
            old.rename(out)
        raise InputError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
