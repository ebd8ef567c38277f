"""A corpus of hostile pickles, each of which would create a canary file if it were unpickled.

Some are written by ``pickle.dumps`` from objects whose ``__reduce__`` returns a dangerous call
(``Call``), for every protocol; others are assembled by hand from raw opcodes to exercise
obfuscation a pickler never produces (names through the memo, decoy strings, computed names,
INST/OBJ, extension codes, Python 2 names, concatenated streams).
"""

from __future__ import annotations

import builtins
import functools
import importlib
import io
import operator
import os
import pickle
import shlex
import struct
import subprocess
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)


class Call:
    """Pickles as ``func(*args)``: unpickling makes the call."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func = func
        self.args = args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args

    def __call__(self, *args: Any) -> Any:
        """Never called here; the pickler only insists that a reduced callable be callable."""
        raise TypeError("a Call runs only when unpickled")


def _touch_command(canary: Path) -> str:
    return f"touch {shlex.quote(str(canary))}"


def _touch_expression(canary: Path) -> str:
    return f"open({str(canary)!r}, 'w').close()"


# --- raw opcode assembly -------------------------------------------------------------------


def proto_header(protocol: int) -> bytes:
    return pickle.PROTO + bytes([protocol]) if protocol >= 2 else b""


def text(value: str, protocol: int) -> bytes:
    """A str push in the opcode a pickler of ``protocol`` would use."""
    data = value.encode()
    if protocol == 0:
        return pickle.UNICODE + value.encode("raw-unicode-escape") + b"\n"
    if protocol >= 4 and len(data) < 256:
        return pickle.SHORT_BINUNICODE + bytes([len(data)]) + data
    return pickle.BINUNICODE + struct.pack("<I", len(data)) + data


def text_global(module: str, name: str) -> bytes:
    return pickle.GLOBAL + f"{module}\n{name}\n".encode()


def one_tuple(item: bytes, protocol: int) -> bytes:
    return item + pickle.TUPLE1 if protocol >= 2 else pickle.MARK + item + pickle.TUPLE


def call(callable_: bytes, arg: bytes, protocol: int) -> bytes:
    return callable_ + one_tuple(arg, protocol) + pickle.REDUCE


def stack_global(module: str, name: str) -> bytes:
    return text(module, 4) + text(name, 4) + pickle.STACK_GLOBAL


def binput(index: int) -> bytes:
    return pickle.BINPUT + bytes([index])


def binget(index: int) -> bytes:
    return pickle.BINGET + bytes([index])


# --- the corpus ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Hostile:
    """One hostile pickle: how to build it, what a scan must report, how to run it for real."""

    id: str
    build: Callable[[Path], bytes]
    unsafe: frozenset[str]
    live: bool = True  # False: cannot run on this platform/process (nt.*, extension codes)
    zipped: bool = False  # the bytes are a torch-style zip; the pickle is its data.pkl

    def write(self, directory: Path, canary: Path) -> Path:
        path = directory / (f"{self.id}.pt" if self.zipped else f"{self.id}.pkl")
        path.write_bytes(self.build(canary))
        return path


def _dump(payload: Callable[[Path], Any], protocol: int, canary: Path) -> bytes:
    return pickle.dumps(payload(canary), protocol=protocol)


def _hand_built_bytes(case_id: str, canary: Path) -> bytes:
    return _hand_built(canary)[case_id][0]


def _dumped(
    name: str, payload: Callable[[Path], Any], unsafe: Callable[[int], set[str]]
) -> list[Hostile]:
    return [
        Hostile(
            f"{name}-p{protocol}",
            functools.partial(_dump, payload, protocol),
            frozenset(unsafe(protocol)),
        )
        for protocol in PROTOCOLS
    ]


def _popen_and_wait(canary: Path) -> Any:
    popen = Call(subprocess.Popen, ["touch", str(canary)])
    return Call(Call(getattr, popen, "wait"))


def _inner_pickle(canary: Path) -> bytes:
    return pickle.dumps(Call(os.system, _touch_command(canary)), protocol=2)


def _system_via_getattr(canary: Path) -> Any:
    return Call(Call(getattr, Call(builtins.__import__, "os"), "system"), _touch_command(canary))


def _hand_built(canary: Path) -> dict[str, tuple[bytes, set[str], bool]]:
    cmd = _touch_command(canary)
    expr = _touch_expression(canary)
    p4 = proto_header(4)
    benign = pickle.dumps({"weights": [1.0, 2.0]}, protocol=2)
    return {
        # (bytes, unsafe globals, live on Linux)
        "global-posix-system-p0": (
            call(text_global("posix", "system"), text(cmd, 0), 0) + pickle.STOP,
            {"posix.system"},
            True,
        ),
        "global-nt-system-p1": (
            call(text_global("nt", "system"), text(cmd, 1), 1) + pickle.STOP,
            {"nt.system"},
            False,
        ),
        "py2-builtin-eval-p0": (
            call(text_global("__builtin__", "eval"), b"S" + repr(expr).encode() + b"\n", 0)
            + pickle.STOP,
            {"builtins.eval"},
            True,
        ),
        "stack-global-py2-names-under-p2": (
            proto_header(2)
            + call(stack_global("__builtin__", "exec"), text(expr, 2), 2)
            + pickle.STOP,
            {"builtins.exec"},
            True,
        ),
        "stack-global-names-from-memo-p4": (
            p4
            + text("os", 4)
            + pickle.MEMOIZE
            + text("system", 4)
            + pickle.MEMOIZE
            + pickle.POP
            + pickle.POP
            + binget(0)
            + binget(1)
            + pickle.STACK_GLOBAL
            + one_tuple(text(cmd, 4), 4)
            + pickle.REDUCE
            + pickle.STOP,
            {"os.system"},
            True,
        ),
        "stack-global-memo-overwritten-p4": (
            p4
            + text("collections", 4)
            + binput(1)
            + pickle.POP
            + text("os", 4)
            + binput(1)
            + pickle.POP
            + text("OrderedDict", 4)
            + binput(2)
            + pickle.POP
            + text("system", 4)
            + binput(2)
            + pickle.POP
            + binget(1)
            + binget(2)
            + pickle.STACK_GLOBAL
            + one_tuple(text(cmd, 4), 4)
            + pickle.REDUCE
            + pickle.STOP,
            {"os.system"},
            True,
        ),
        "stack-global-behind-decoy-strings-p5": (
            proto_header(5)
            + text("os", 4)
            + text("system", 4)
            + text("collections", 4)
            + text("OrderedDict", 4)
            + pickle.POP
            + pickle.POP
            + pickle.STACK_GLOBAL
            + one_tuple(text(cmd, 4), 4)
            + pickle.REDUCE
            + pickle.STOP,
            {"os.system"},
            True,
        ),
        "stack-global-names-split-dup-p4": (
            p4
            + pickle.MARK
            + text("posix", 4)
            + pickle.DUP
            + pickle.POP_MARK
            + text("posix", 4)
            + pickle.DUP
            + pickle.MEMOIZE
            + pickle.POP
            + text("system", 4)
            + pickle.STACK_GLOBAL
            + one_tuple(text(cmd, 4), 4)
            + pickle.REDUCE
            + pickle.STOP,
            {"posix.system"},
            True,
        ),
        "stack-global-binstring-names-p3": (
            proto_header(3)
            + pickle.SHORT_BINSTRING
            + b"\x02os"
            + pickle.BINSTRING
            + struct.pack("<i", 6)
            + b"system"
            + pickle.STACK_GLOBAL
            + one_tuple(text(cmd, 3), 3)
            + pickle.REDUCE
            + pickle.STOP,
            {"os.system"},
            True,
        ),
        "stack-global-computed-module-p4": (
            p4
            + call(stack_global("builtins", "str"), text("os", 4), 4)
            + text("system", 4)
            + pickle.STACK_GLOBAL
            + one_tuple(text(cmd, 4), 4)
            + pickle.REDUCE
            + pickle.STOP,
            {"builtins.str", "<unresolved>"},
            True,
        ),
        "inst-os-system-p0": (
            pickle.MARK + text(cmd, 0) + pickle.INST + b"os\nsystem\n" + pickle.STOP,
            {"os.system"},
            True,
        ),
        "obj-os-system-p1": (
            pickle.MARK + text_global("os", "system") + text(cmd, 1) + pickle.OBJ + pickle.STOP,
            {"os.system"},
            True,
        ),
        "ext1-extension-code-p2": (
            proto_header(2)
            + pickle.EXT1
            + b"\xf0"
            + one_tuple(text(cmd, 2), 2)
            + pickle.REDUCE
            + pickle.STOP,
            {"<extension 240>"},
            False,
        ),
        "ext2-extension-code-p2": (
            proto_header(2) + pickle.EXT2 + struct.pack("<H", 4242) + pickle.STOP,
            {"<extension 4242>"},
            False,
        ),
        "ext4-extension-code-p3": (
            proto_header(3) + pickle.EXT4 + struct.pack("<i", 70000) + pickle.STOP,
            {"<extension 70000>"},
            False,
        ),
        "concatenated-after-benign-p2": (
            benign + pickle.dumps(Call(os.system, cmd), protocol=2),
            {"posix.system"},
            True,
        ),
        "build-mutates-allowed-module-p4": (
            p4
            + stack_global("sklearn", "base")
            + pickle.EMPTY_DICT
            + text("clone", 4)
            + stack_global("builtins", "set")
            + pickle.SETITEM
            + pickle.BUILD
            + pickle.STOP,
            {"<mutates sklearn.base>"},
            False,  # would only rebind sklearn.base.clone, no canary
        ),
    }


def _torch_zip(canary: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/version", "3\n")
        archive.writestr("archive/data.pkl", pickle.dumps(_system_via_getattr(canary), 2))
        archive.writestr("archive/data/0", b"\0" * 16)
    return buffer.getvalue()


def corpus() -> list[Hostile]:
    """Every hostile case, with a readable id."""
    cases = [
        *_dumped("reduce-os-system", lambda c: Call(os.system, _touch_command(c)),
                 lambda p: {"posix.system"}),
        *_dumped("reduce-subprocess-popen", _popen_and_wait,
                 lambda p: {"subprocess.Popen", "builtins.getattr"}),
        *_dumped("reduce-subprocess-check-output",
                 lambda c: Call(subprocess.check_output, ["touch", str(c)]),
                 lambda p: {"subprocess.check_output"}),
        *_dumped("reduce-builtins-eval", lambda c: Call(eval, _touch_expression(c)),
                 lambda p: {"builtins.eval"}),
        *_dumped("reduce-builtins-exec", lambda c: Call(exec, _touch_expression(c)),
                 lambda p: {"builtins.exec"}),
        *_dumped("getattr-import-chain", _system_via_getattr,
                 lambda p: {"builtins.getattr", "builtins.__import__"}),
        *_dumped("importlib-import-module",
                 lambda c: Call(Call(getattr, Call(importlib.import_module, "os"), "system"),
                                _touch_command(c)),
                 lambda p: {"builtins.getattr", "importlib.import_module"}),
        *_dumped("operator-attrgetter",
                 lambda c: Call(Call(Call(operator.attrgetter, "system"),
                                     Call(importlib.import_module, "os")), _touch_command(c)),
                 lambda p: {"operator.attrgetter", "importlib.import_module"}),
        *_dumped("functools-partial",
                 lambda c: Call(functools.partial(os.system, _touch_command(c))),
                 lambda p: {"functools.partial", "posix.system"}),
        *_dumped("nested-pickle-loads", lambda c: Call(pickle.loads, _inner_pickle(c)),
                 lambda p: {"_pickle.loads" if p >= 3 else "pickle.loads"}),
    ]  # fmt: skip
    hand = _hand_built(Path("/placeholder"))
    for case_id, (_, unsafe, live) in hand.items():
        cases.append(
            Hostile(
                case_id,
                functools.partial(_hand_built_bytes, case_id),
                frozenset(unsafe),
                live=live,
            )
        )
    cases.append(
        Hostile(
            "torch-zip-data-pkl",
            _torch_zip,
            frozenset({"builtins.getattr", "builtins.__import__"}),
            zipped=True,
        )
    )
    return cases


# Run by the liveness test in a child process: proves each payload really would fire.
RUNNER = """
import pickle, sys, time, zipfile
path, zipped = sys.argv[1], sys.argv[2] == "1"
if zipped:
    with zipfile.ZipFile(path) as archive:
        pickle.loads(archive.read("archive/data.pkl"))
else:
    with open(path, "rb") as stream:
        while stream.peek(1):
            pickle.load(stream)
"""
