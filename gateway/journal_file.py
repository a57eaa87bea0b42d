"""The journal's files: JSON lines appended and locked by the process that writes them (see gateway.journal).

`JournalFile` holds transactions (fsync'ed before a charger is answered), `RegisterLog` each written-behind
meter register as it is answered (two files in turn), `orphaned` the journals a stopped process left.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

OPS = ("start", "stop", "meters", "seq")
REGISTERS = ".registers-"  # in the name of a register log


def encode(entry: dict[str, Any]) -> bytes:
    return (json.dumps(entry, separators=(",", ":"), sort_keys=True) + "\n").encode()


def decode(data: bytes) -> Iterator[dict[str, Any]]:
    """The entries of a journal's bytes. A last line cut short (the process killed mid-write, before the
    answer went out) is dropped; any other line that is not an entry raises ValueError naming it."""
    lines = data.split(b"\n")
    complete, tail = lines[:-1], lines[-1]
    for number, line in enumerate(complete, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"journal line {number}: not JSON ({exc})") from None
        if not isinstance(entry, dict) or entry.get("op") not in OPS:
            raise ValueError(f"journal line {number}: not a journal entry")
        yield entry
    del tail  # no newline yet: never flushed whole, so never answered


class JournalFile:
    """One instance's append-only journal, locked while this process writes it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise RuntimeError(f"journal {path} is in use by another process (two instances with one id?)") from None

    def append(self, entry: dict[str, Any], *, sync: bool = True) -> None:
        os.write(self._fd, encode(entry))
        if sync:
            os.fsync(self._fd)

    def read(self) -> list[dict[str, Any]]:
        return list(decode(self.path.read_bytes()))

    def clear(self) -> None:
        os.ftruncate(self._fd, 0)
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


class RegisterLog:
    """Each register written behind, as it is answered, in one of two files: a flush switches to the other
    and empties the first once what it held is stored (or journaled). Written without fsync: a killed
    process loses nothing (the kernel has it), a machine that loses power the last moments."""

    def __init__(self, directory: Path, instance_id: str) -> None:
        self._files = [JournalFile(directory / f"{instance_id}{REGISTERS}{n}.jsonl") for n in (0, 1)]
        self._current = 0

    def write(self, transaction_id: int, energy_wh: float) -> None:
        if math.isfinite(energy_wh):
            line = f'{{"op":"meters","registers":{{"{transaction_id}":{energy_wh!r}}}}}\n'
            os.write(self._files[self._current].fd, line.encode())

    def rotate(self) -> int:
        """Switch files; returns the one that holds what was written so far."""
        self._current = 1 - self._current
        return 1 - self._current

    def clear(self, index: int) -> None:
        os.ftruncate(self._files[index].fd, 0)

    def close(self) -> None:
        for file in self._files:
            file.close()


@contextlib.contextmanager
def orphaned(directory: Path) -> Iterator[list[tuple[Path, list[dict[str, Any]]]]]:
    """Journals in `directory` no living process holds, with their entries; locked while the caller writes
    them to the database, then removed when it returns normally."""
    taken: list[tuple[Path, int, list[dict[str, Any]]]] = []
    try:
        found = (
            sorted(directory.glob("*.jsonl"), key=lambda p: (REGISTERS in p.name, p.name)) if directory.is_dir() else []
        )
        for path in found:  # the transactions first, then the registers that may name them
            fd = os.open(path, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            taken.append((path, fd, list(decode(path.read_bytes()))))
        yield [(path, entries) for path, _, entries in taken]
        for path, _, _ in taken:
            path.unlink(missing_ok=True)
    finally:
        for _, fd, _ in taken:
            os.close(fd)
