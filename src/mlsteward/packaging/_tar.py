"""The tar layer: member headers for writing, and a strict reader that never extracts.

Packages are uncompressed POSIX (pax) tar files, written deterministically (mode 0644, owner
0, mtime 0). The reader is a small parser of its own rather than ``tarfile``: it reads only
headers (``pread`` at known offsets, never the data), bounds every header it holds in memory,
and describes each member (type, path, data offset) so the caller can refuse links, devices
and hostile names while reading member data in place.
"""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass

from ..errors import InvalidArgument

BLOCK = 512
RECORD = 20 * BLOCK
END_OF_ARCHIVE = bytes(2 * BLOCK)
MAX_EXTENDED_HEADER = 64 * 1024
MAX_MEMBERS = 1_000_000

_KINDS = {
    b"0": "file",
    b"\0": "file",
    b"1": "hard link",
    b"2": "symbolic link",
    b"3": "character device",
    b"4": "block device",
    b"5": "directory",
    b"6": "FIFO",
    b"7": "contiguous file",
    b"S": "sparse file",
}


def member_header(path: str, size: int, *, offset: int = 0, align: int = 0) -> bytes:
    """The header block(s) of a regular file member (a pax header first if needed).

    With ``align``, the header written at ``offset`` is padded with a pax ``comment`` record
    (which readers ignore, per POSIX) so that the member's data starts at a multiple of
    ``align``: kernel copies to aligned offsets were measured 1.35x faster.
    """
    plain = _header(path, size, None)
    if not align or (offset + len(plain)) % align == 0:
        return plain
    target = len(plain) + (-(offset + len(plain)) % align)
    comment = 0
    for _ in range(16):  # converges in two or three steps: pax data is padded to 512
        header = _header(path, size, "x" * comment)
        if len(header) == target:
            return header
        if len(header) < target:
            comment += target - len(header)
        else:
            target += align
    raise AssertionError("the pax padding did not converge")  # pragma: no cover


def _header(path: str, size: int, comment: str | None) -> bytes:
    info = tarfile.TarInfo(path)
    info.size = size
    info.mode = 0o644
    info.mtime = 0
    info.uname = info.gname = ""
    if comment is not None:
        info.pax_headers = {"comment": comment}
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict")


def padding(size: int) -> bytes:
    """Zero bytes that complete a member's last block."""
    return bytes(-size % BLOCK)


def end_of_archive(offset: int) -> bytes:
    """Two zero blocks, then zeros up to a full 10 KiB record (what tar tools expect)."""
    end = offset + len(END_OF_ARCHIVE)
    return END_OF_ARCHIVE + bytes(-end % RECORD)


@dataclass(frozen=True, slots=True)
class Member:
    """A member as stored: ``path`` (None if not UTF-8), kind, data offset and size."""

    path: str | None
    raw_path: str
    kind: str
    offset: int
    size: int


def _malformed(message: str) -> InvalidArgument:
    return InvalidArgument(f"the archive is not a well-formed package tar: {message}")


def _number(field: bytes, what: str) -> int:
    if field[:1] == b"\x80":  # GNU base-256 for values that do not fit in octal
        return int.from_bytes(field[1:], "big")
    text = field.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise _malformed(f"a header has an invalid {what} field") from None


def _checksum_ok(block: bytes) -> bool:
    stored = _number(block[148:156], "checksum")
    unsigned = sum(block[:148]) + 8 * 0x20 + sum(block[156:])
    signed = sum((b ^ 0x80) - 0x80 for b in block[:148] + block[156:]) + 8 * 0x20
    return stored in (unsigned, signed)


def _pax_records(data: bytes) -> dict[str, str]:
    records: dict[str, str] = {}
    position = 0
    while position < len(data):
        space = data.find(b" ", position)
        try:
            length = int(data[position:space])
        except ValueError:
            raise _malformed("a pax header record is invalid") from None
        record = data[space + 1 : position + length]
        if space < 0 or length <= 0 or not record.endswith(b"\n") or b"=" not in record:
            raise _malformed("a pax header record is invalid")
        key, value = record[:-1].split(b"=", 1)
        try:
            records[key.decode("utf-8")] = value.decode("utf-8")
        except UnicodeDecodeError:
            records[key.decode("utf-8", "replace")] = value.decode("utf-8", "surrogateescape")
        position += length
    return records


def _decode_path(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def read_members(fd: int, file_size: int) -> list[Member]:
    """Parse every header of the tar open as ``fd``; reads no member data.

    Raises ``InvalidArgument`` for what is not a well-formed tar: bad checksums, members
    running past the end, global or oversized extended headers, too many members.
    """
    members: list[Member] = []
    offset = 0
    pending: dict[str, str] = {}
    long_name: bytes | None = None
    while offset + BLOCK <= file_size:
        block = os.pread(fd, BLOCK, offset)
        if len(block) < BLOCK:
            raise _malformed("it ends in the middle of a header")
        if block == bytes(BLOCK):
            return members
        if not _checksum_ok(block):
            raise _malformed(f"the header at byte {offset} has a wrong checksum")
        kind_flag = block[156:157]
        size = _number(block[124:136], "size")
        data_offset = offset + BLOCK
        if data_offset + size > file_size:
            raise _malformed(f"the member at byte {offset} runs past the end of the file")
        next_offset = data_offset + size + (-size % BLOCK)
        if kind_flag in (b"x", b"L", b"K"):
            if size > MAX_EXTENDED_HEADER:
                raise _malformed("an extended header is larger than 64 KiB")
            data = os.pread(fd, size, data_offset)
            if kind_flag == b"x":
                pending.update(_pax_records(data))
            elif kind_flag == b"L":
                long_name = data.split(b"\0", 1)[0]
            offset = next_offset
            continue
        if kind_flag == b"g":
            raise _malformed("global pax headers are not allowed in a package")
        raw = block[0:100].split(b"\0", 1)[0]
        if block[257:263] == b"ustar\x00" and (prefix := block[345:500].split(b"\0", 1)[0]):
            raw = prefix + b"/" + raw
        if long_name is not None:
            raw = long_name
        path = _decode_path(raw)
        if "path" in pending:
            raw = pending["path"].encode("utf-8", "surrogateescape")
            path = _decode_path(raw)
        if "size" in pending:
            try:
                size = int(pending["size"])
            except ValueError:
                raise _malformed("a pax size record is not a number") from None
            if size < 0 or data_offset + size > file_size:
                raise _malformed(f"the member at byte {offset} runs past the end of the file")
            next_offset = data_offset + size + (-size % BLOCK)
        kind = _KINDS.get(kind_flag, f"member of type {kind_flag!r}")
        if any(key.startswith("GNU.sparse.") for key in pending):
            kind = "sparse file"
        raw_path = raw.decode("utf-8", "backslashreplace")
        members.append(Member(path, raw_path, kind, data_offset, size))
        if len(members) > MAX_MEMBERS:
            raise _malformed(f"it has more than {MAX_MEMBERS} members")
        pending, long_name = {}, None
        offset = next_offset
    if offset != file_size:
        raise _malformed("it ends in the middle of a header")
    return members
