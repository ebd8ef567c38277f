"""Opcode-level pickle scanning: find what a pickle would import without running it.

A pickle runs code only through the globals it imports (``GLOBAL``, ``STACK_GLOBAL``, ``INST``,
the copyreg extension opcodes) and then calls. The scanner walks the opcodes with
``pickletools.genops``, keeps a symbolic stack and memo so names assembled from strings (also
through the memo) are resolved, and reports every import. Nothing is imported or unpickled.

A stream that cannot be fully parsed (truncated, corrupt, trailing garbage) raises
``UnsafeModelFile``: what cannot be scanned cannot be shown safe, and no trust decision loads it.

Allow-list trade-off: exact names are precise but every scikit-learn estimator would need one,
so the default also allows the prefixes ``sklearn.`` and ``scipy.sparse.``. A prefix admits any
attribute of any module below it, including helpers that read or write files, download data or
re-export ``os``/``numpy``. Under a prefix the scanner therefore refuses attribute paths
(``sklearn.base`` + ``np.save``), dunders, modules such as ``os``/``joblib``/``datasets`` anywhere
in the path, and call-like names (``load``, ``run``, ``system``, ``fetch_*`` …). This narrows but
does not close the gap: an allowed class whose ``__setstate__`` misbehaves is still allowed.
Names are resolved as ``pickle.loads`` does (``fix_imports=True``: Python 2 names mapped below
protocol 3); a pickle BUILDing state into an imported object (a module, a class) is refused.
"""

from __future__ import annotations

import _compat_pickle
import contextlib
import enum
import io
import pickle
import pickletools
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

from mlsteward.errors import InvalidArgument, NotFound, UnsafeModelFile

__all__ = [
    "DEFAULT_ALLOW_LIST",
    "AllowList",
    "PickleScan",
    "TrustDecision",
    "load_pickle",
    "scan_file",
    "scan_pickle",
]

UNRESOLVED = "<unresolved>"
_CHUNK = 1 << 20  # never allocate what a length field claims before the bytes exist
_RECORD_LIMIT = 1 << 16  # raw bytes kept per opcode, enough for any GLOBAL/INST line
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_MESSAGE_GLOBALS = 20

# Callables that run code, touch files or processes, or fetch attributes; refused even when an
# allow-list entry or prefix covers them (compared after stripping leading underscores).
_DENIED_NAMES = frozenset(
    {
        "system", "popen", "Popen", "eval", "exec", "execfile", "compile", "getattr",
        "setattr", "delattr", "globals", "locals", "vars", "input", "breakpoint", "open",
        "load", "loads", "dump", "dumps", "call", "run", "check_output", "check_call",
        "getoutput", "getstatusoutput", "import_module", "attrgetter", "itemgetter",
        "methodcaller", "partial", "partialmethod", "reduce", "apply", "fork", "kill",
        "remove", "unlink", "rmdir", "rmtree", "rename", "urlopen", "Unpickler", "Pickler",
    }
)  # fmt: skip
_DENIED_NAME_PREFIXES = ("exec", "spawn", "popen", "Popen", "system", "load", "dump", "save",
                         "fetch", "write")  # fmt: skip
# Modules that re-export the above; under an allowed *prefix* no path component may be one.
_DENIED_MODULES = frozenset(
    {
        "os", "nt", "posix", "sys", "subprocess", "builtins", "importlib", "pickle", "marshal",
        "shutil", "socket", "ctypes", "ctypeslib", "runpy", "code", "codeop", "pty", "operator",
        "functools", "joblib", "dill", "cloudpickle", "io", "pathlib", "tempfile", "glob",
        "multiprocessing", "webbrowser", "commands", "threading", "signal", "asyncio", "pdb",
        "bdb", "timeit", "trace", "types", "inspect", "gc", "platform", "sysconfig", "site",
        "zipimport", "pkgutil", "urllib", "http", "requests", "ftplib", "smtplib", "ssl",
        "mmap", "fcntl", "sqlite3", "shelve", "dbm", "zipfile", "tarfile", "fileinput",
        "datasets", "externals", "testing", "parallel", "npyio",
    }
)  # fmt: skip
_STRING_OPS = frozenset({"SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"})
_BYTESTRING_OPS = frozenset({"SHORT_BINSTRING", "BINSTRING", "STRING"})  # str when ASCII
_MUTATORS = frozenset({"BUILD", "APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS"})


def _is_dunder(part: str) -> bool:
    return len(part) > 4 and part.startswith("__") and part.endswith("__")


def _is_denied_name(part: str) -> bool:
    bare = part.lstrip("_")
    return bare in _DENIED_NAMES or bare.startswith(_DENIED_NAME_PREFIXES)


@dataclass(frozen=True)
class AllowList:
    """Globals a pickle may import: exact ``"module.name"`` entries and module prefixes.

    Prefixes end with ``"."`` and cover every module below them (``"sklearn."``), but only
    plain attributes of those modules: no dotted attribute paths, no dunders, no denied names
    or re-exporting modules anywhere in the path. Call-like names (``eval``, ``system``,
    ``getattr``, ``load`` …) are refused even when listed exactly: deny wins over allow.
    """

    names: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", frozenset(self.names))
        object.__setattr__(self, "prefixes", tuple(sorted(set(self.prefixes))))
        for entry in self.names:
            if "." not in entry.strip(".") or entry != entry.strip():
                raise InvalidArgument(
                    f"allow-list name {entry!r} is not of the form 'module.name'",
                    details={"name": entry},
                )
        for prefix in self.prefixes:
            if not prefix.endswith(".") or len(prefix) < 2:
                raise InvalidArgument(
                    f"allow-list prefix {prefix!r} must be a module path ending with '.', "
                    f"e.g. 'mypackage.models.'",
                    details={"prefix": prefix},
                )

    def extend(self, *, names: Iterable[str] = (), prefixes: Iterable[str] = ()) -> AllowList:
        """A new allow-list with these exact names and module prefixes added."""
        return AllowList(self.names | frozenset(names), (*self.prefixes, *prefixes))

    def allows(self, module: str, name: str) -> bool:
        """Whether importing ``name`` from ``module`` is allowed (after py2 name mapping)."""
        path = f"{module}.{name}"
        parts = path.split(".")
        if any(_is_dunder(part) for part in parts) or _is_denied_name(parts[-1]):
            return False
        if path in self.names:
            return True
        if "." in name or not any(f"{module}.".startswith(p) for p in self.prefixes):
            return False
        return not any(
            _is_denied_name(part) or part.lstrip("_") in _DENIED_MODULES for part in parts
        )


# What a plain scikit-learn / NumPy / SciPy sparse / collections model needs; data builtins only.
DEFAULT_ALLOW_LIST = AllowList(
    names=frozenset({
        *(f"numpy.{core}.{name}" for core in ("core", "_core")
          for name in ("multiarray._reconstruct", "multiarray.scalar", "numeric._frombuffer")),
        "numpy.ndarray", "numpy.dtype",
        *(f"numpy.random._pickle.__{kind}_ctor"
          for kind in ("randomstate", "bit_generator", "generator")),
        "numpy.random._mt19937.MT19937", "numpy.random._pcg64.PCG64",
        "numpy.random._pcg64.PCG64DXSM", "numpy.random._philox.Philox",
        "numpy.random._sfc64.SFC64", "numpy.random.bit_generator.SeedSequence",
        "numpy.random.bit_generator.__pyx_unpickle_SeedSequence",
        *(f"collections.{name}" for name in ("OrderedDict", "defaultdict", "Counter", "deque")),
        *(f"builtins.{name}" for name in
          ("set", "frozenset", "slice", "complex", "bytearray", "range", "object")),
        "copyreg._reconstructor",
        "_codecs.encode",  # how protocols 0-2 spell bytes
    }),
    prefixes=("scipy.sparse.", "sklearn."),
)  # fmt: skip


@dataclass(frozen=True)
class PickleScan:
    """What a pickle stream (or every pickle in a file) would import."""

    globals: tuple[str, ...]
    """Every distinct ``"module.name"`` imported, sorted (``"<unresolved>"`` and
    ``"<extension N>"`` for imports that cannot be named statically)."""
    unsafe: tuple[str, ...]
    """The subset of ``globals`` that the allow-list does not allow."""
    protocol: int | None
    """Highest pickle protocol declared or implied by the opcodes; None if nothing was scanned."""
    opcodes: int

    @property
    def is_safe(self) -> bool:
        """True when every import is allowed."""
        return not self.unsafe


@dataclass(frozen=True)
class TrustDecision:
    """An explicit decision to load a pickle despite unsafe imports: why, and who decided."""

    reason: str
    actor_name: str | None = None

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise InvalidArgument("a trust decision needs a reason, e.g. 'built by our CI job'")


class _Malformed(Exception):
    """The stream is not a well-formed pickle; carries the message for UnsafeModelFile."""


class _Token(enum.Enum):
    MARK = "mark"
    UNKNOWN = "unknown"  # any object the scanner does not follow: not a usable name


@dataclass(frozen=True)
class _Global:
    name: str


_MARK, _UNKNOWN = _Token.MARK, _Token.UNKNOWN
_Value = str | _Token | _Global


class _Reader:
    """A binary stream as genops reads it: bounded reads, a one-byte peek, raw-byte record."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._peeked = b""
        self._pos = 0
        self.record = bytearray()

    def _take(self, data: bytes) -> bytes:
        self._pos += len(data)
        room = _RECORD_LIMIT + 1 - len(self.record)
        if room > 0:
            self.record += data[:room]
        return data

    def read(self, n: int) -> bytes:
        parts = [self._peeked[:n]]
        self._peeked = self._peeked[n:]
        remaining = n - len(parts[0])
        while remaining > 0:
            chunk = self._stream.read(min(remaining, _CHUNK))
            if not chunk:
                break
            parts.append(chunk)
            remaining -= len(chunk)
        return self._take(b"".join(parts))

    def readline(self) -> bytes:
        parts = [self._peeked]
        self._peeked = b""
        while not parts[-1].endswith(b"\n"):
            chunk = self._stream.readline(_CHUNK)
            if not chunk:
                break
            parts.append(chunk)
        return self._take(b"".join(parts))

    def tell(self) -> int:
        return self._pos

    def at_eof(self) -> bool:
        if not self._peeked:
            self._peeked = self._stream.read(1)
        return not self._peeked


def _text_global(raw: bytes, encoding: str) -> tuple[str, str] | None:
    """Module and name of a GLOBAL/INST opcode from its raw bytes, decoded as the unpickler
    does (pickletools undoes escapes the unpickler keeps); None if not decodable."""
    lines = raw[1:].split(b"\n")
    if len(raw) > _RECORD_LIMIT or len(lines) != 3 or lines[2]:
        return None
    try:
        return lines[0].decode(encoding), lines[1].decode(encoding)
    except UnicodeDecodeError:
        return None


@dataclass
class _Walk:
    """Symbolic execution of one pickle stream: stack, memo, protocol, imports."""

    allowed: AllowList
    imports: set[str] = field(default_factory=set)
    unsafe: set[str] = field(default_factory=set)
    stack: list[_Value] = field(default_factory=list)
    memo: dict[int, _Value] = field(default_factory=dict)
    proto: int = 0
    protocol: int = 0
    opcodes: int = 0

    def new_pickle(self) -> None:
        # Unpickler.load() resets stack and protocol but keeps the memo between loads.
        self.stack, self.proto = [], 0

    def import_(self, module: str, name: str) -> _Global:
        if self.proto < 3:  # the unpickler maps Python 2 names below protocol 3 (fix_imports)
            mapped = _compat_pickle.NAME_MAPPING.get((module, name))
            if mapped is not None:
                module, name = mapped
            else:
                module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        path = f"{module}.{name}"
        self.imports.add(path)
        if not self.allowed.allows(module, name):
            self.unsafe.add(path)
        return _Global(path)

    def refuse(self, label: str) -> _Global:
        self.imports.add(label)
        self.unsafe.add(label)
        return _Global(label)

    def pop(self, count: int) -> list[_Value]:
        if count == 0:
            return []
        items = self.stack[-count:]
        if len(items) < count or any(item is _MARK for item in items):
            raise _Malformed("stack underflow")
        del self.stack[-count:]
        return items

    def pop_to_mark(self) -> None:
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index] is _MARK:
                del self.stack[index:]
                return
        raise _Malformed("no MARK on the stack")

    def top(self) -> _Value:
        if not self.stack or self.stack[-1] is _MARK:
            raise _Malformed("stack underflow")
        return self.stack[-1]

    def step(self, op: pickletools.OpcodeInfo, arg: Any, raw: bytes) -> None:
        self.opcodes += 1
        self.protocol = max(self.protocol, op.proto)
        name = op.name
        if name == "PROTO":
            self.proto = int(arg)
            self.protocol = max(self.protocol, self.proto)
        elif name in ("GLOBAL", "INST"):
            pair = _text_global(raw, "utf-8" if name == "GLOBAL" else "ascii")
            found = self.import_(*pair) if pair else self.refuse(UNRESOLVED)
            if name == "INST":
                self.pop_to_mark()
            self.stack.append(found if name == "GLOBAL" else _UNKNOWN)
        elif name == "STACK_GLOBAL":
            module, attr = self.pop(2)
            if isinstance(module, str) and isinstance(attr, str):
                self.stack.append(self.import_(module, attr))
            else:
                self.stack.append(self.refuse(UNRESOLVED))
        elif name in ("EXT1", "EXT2", "EXT4"):
            self.stack.append(self.refuse(f"<extension {arg}>"))
        elif name in _STRING_OPS:
            self.stack.append(str(arg))
        elif name in _BYTESTRING_OPS:  # decoded as ASCII by default; anything else fails
            self.stack.append(str(arg) if str(arg).isascii() else _UNKNOWN)
        elif name == "MEMOIZE":
            self.memo[len(self.memo)] = self.top()
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            if int(arg) < 0:
                raise _Malformed("negative memo index")
            self.memo[int(arg)] = self.top()
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            if int(arg) not in self.memo:
                raise _Malformed(f"memo key {arg} read before it was written")
            self.stack.append(self.memo[int(arg)])
        elif name == "MARK":
            self.stack.append(_MARK)
        elif name == "DUP":
            self.stack.append(self.top())
        elif name == "POP" and self.stack and self.stack[-1] is _MARK:
            self.stack.pop()
        else:
            self._generic(op)

    def _generic(self, op: pickletools.OpcodeInfo) -> None:
        before = op.stack_before
        if pickletools.markobject in before:
            self.pop_to_mark()
            below = self.pop(before.index(pickletools.markobject))
        else:
            below = self.pop(len(before))
        if op.name in _MUTATORS:
            target = below[0]
            if isinstance(target, _Global):  # pickles only mutate objects they built
                self.refuse(f"<mutates {target.name}>")
            self.stack.append(target)
        else:
            self.stack.extend(_UNKNOWN for _ in op.stack_after)


def _label(source: object) -> str | None:
    if isinstance(source, Path):
        return source.name
    name = getattr(source, "name", None)
    return Path(name).name if isinstance(name, str) else None


def _malformed(label: str | None, problem: str, imports: Iterable[str]) -> UnsafeModelFile:
    what = label or "the pickle"
    details: dict[str, Any] = {"globals": sorted(imports), "reason": problem}
    if label:
        details["file"] = label
    return UnsafeModelFile(
        f"{what} is not a well-formed pickle ({problem}), so it cannot be scanned and will not "
        "be loaded, even with a trust decision. Re-export the model from its source.",
        details=details,
    )


def _walk_stream(stream: IO[bytes], allowed: AllowList, label: str | None) -> _Walk:
    reader = _Reader(stream)
    walk = _Walk(allowed)
    try:
        while True:  # concatenated pickles: scan every one until end of file
            walk.new_pickle()
            reader.record.clear()
            for op, arg, _pos in pickletools.genops(cast(IO[bytes], reader)):  # duck-typed
                walk.step(op, arg, bytes(reader.record))
                reader.record.clear()
            if reader.at_eof():
                return walk
    except (_Malformed, ValueError, AssertionError, OverflowError, EOFError) as exc:
        problem = f"at byte {reader.tell()}: {exc}"
        raise _malformed(label, problem, walk.imports) from exc
    except (zipfile.BadZipFile, zlib.error) as exc:
        raise _malformed(label, f"corrupt zip member: {exc}", walk.imports) from exc


def _result(walks: list[_Walk]) -> PickleScan:
    imports = set().union(*(w.imports for w in walks))
    unsafe = set().union(*(w.unsafe for w in walks))
    return PickleScan(
        globals=tuple(sorted(imports)),
        unsafe=tuple(sorted(unsafe)),
        protocol=max((w.protocol for w in walks), default=None),
        opcodes=sum(w.opcodes for w in walks),
    )


@contextlib.contextmanager
def _opened(source: bytes | BinaryIO | Path) -> Iterator[tuple[IO[bytes], str | None]]:
    if isinstance(source, bytes | bytearray | memoryview):
        yield io.BytesIO(bytes(source)), None
    elif isinstance(source, Path):
        try:
            stream = source.open("rb")
        except FileNotFoundError as exc:
            raise NotFound(f"model file {source} does not exist") from exc
        with stream:
            yield stream, source.name
    else:
        yield source, _label(source)


def scan_pickle(
    source: bytes | BinaryIO | Path, *, allowed: AllowList = DEFAULT_ALLOW_LIST
) -> PickleScan:
    """Scan a raw pickle stream (every concatenated pickle up to end of input) without loading it.

    A binary stream is read from its current position to its end. Raises ``UnsafeModelFile``
    (``details["reason"]``) when the input is not a well-formed sequence of pickles, and
    ``NotFound`` for a missing path. Unsafe imports are reported, not raised: see ``is_safe``.
    """
    with _opened(source) as (stream, label):
        return _result([_walk_stream(stream, allowed, label)])


def scan_file(path: Path, *, allowed: AllowList = DEFAULT_ALLOW_LIST) -> PickleScan:
    """Scan a model file: a raw pickle stream, or a zip (torch's ``.pt``) of ``*.pkl`` members.

    A file that starts with a zip header is read as a zip and every member whose name ends in
    ``.pkl`` is scanned (each on its own memo, as torch unpickles them); anything else is
    scanned as a pickle stream. Errors as for ``scan_pickle``; a corrupt zip is malformed.
    """
    path = Path(path)
    with _opened(path) as (stream, _):
        if stream.read(4) not in _ZIP_MAGIC:
            stream.seek(0)
            return _result([_walk_stream(stream, allowed, path.name)])
        walks = []
        try:
            with zipfile.ZipFile(stream) as archive:
                for info in archive.infolist():
                    if info.filename.endswith(".pkl"):
                        with archive.open(info) as member:
                            label = f"{path.name}:{info.filename}"
                            walks.append(_walk_stream(member, allowed, label))
        except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError) as exc:
            raise _malformed(path.name, f"corrupt zip: {exc}", ()) from exc
        return _result(walks)


def _unsafe_error(scan: PickleScan, label: str | None) -> UnsafeModelFile:
    shown = ", ".join(scan.unsafe[:_MESSAGE_GLOBALS])
    more = len(scan.unsafe) - _MESSAGE_GLOBALS
    if more > 0:
        shown += f" and {more} more"
    details: dict[str, Any] = {"globals": list(scan.unsafe)}
    if label:
        details["file"] = label
    return UnsafeModelFile(
        f"{label or 'the pickle'} imports globals outside the allow-list ({shown}); loading it "
        "could run arbitrary code, so it was not unpickled. Save the model in a safe format "
        "(skops, ONNX, safetensors), add your own classes to the allow-list, or pass an explicit "
        "TrustDecision if you trust where the file came from (the decision is audited).",
        details=details,
    )


def load_pickle(
    source: bytes | Path,
    *,
    allowed: AllowList = DEFAULT_ALLOW_LIST,
    trust: TrustDecision | None = None,
    on_trust: Callable[[PickleScan], None] | None = None,
) -> Any:
    """Scan, then unpickle the first pickle of ``source``; the bytes scanned are the bytes loaded.

    Raises ``UnsafeModelFile`` (``details["globals"]``: every offending global) when the pickle
    imports globals the allow-list does not allow and ``trust`` is None, or when it is malformed
    (whatever ``trust`` says). With ``trust``, an unsafe pickle is loaded, and ``on_trust(scan)``
    is called first so the caller can record the audit event; if it raises, nothing is unpickled.
    Raises ``InvalidArgument`` when a scanned-safe pickle still fails to unpickle.
    """
    with _opened(source) as (stream, label):
        data = stream.read()
    scan = _result([_walk_stream(io.BytesIO(data), allowed, label)])
    if not scan.is_safe:
        if trust is None:
            raise _unsafe_error(scan, label)
        if on_trust is not None:
            on_trust(scan)
    try:
        return pickle.loads(data)  # noqa: S301 - scanned above; unsafe only with explicit trust
    except (pickle.UnpicklingError, ImportError, AttributeError, EOFError) as exc:
        raise InvalidArgument(
            f"{label or 'the pickle'} passed the scan but could not be unpickled: {exc}. "
            "Check that the packages it was saved with are installed.",
            details={"file": label} if label else None,
        ) from exc
