"""Valgrind client requests from Python, with no compiler: the few bytes of x86-64 code that valgrind.h's
``VALGRIND_DO_CLIENT_REQUEST`` inlines, copied into an executable page and called through ctypes. Natively the
magic rotations leave every register as it was and the call returns its default (0); under Valgrind the core
sees the sequence and serves the request. Callgrind's requests (callgrind.h) delimit a case exactly: its
counters are zeroed right before the timed calls and dumped, under the case's name, right after them.
"""

from __future__ import annotations

import ctypes
import mmap
import platform
from functools import cache

from impl.errors import MLPBenchError

# rdi = address of the six request words, rsi = default; returns rdx (valgrind.h, amd64-linux)
_CODE = bytes.fromhex(
    "4889f8"    # mov rax, rdi      (rax: the request block)
    "4889f2"    # mov rdx, rsi      (rdx: the default result)
    "48c1c703"  # rol rdi, 3        \
    "48c1c70d"  # rol rdi, 13        | the special-instruction preamble: 128 bits of rotation, a no-op
    "48c1c73d"  # rol rdi, 61        |
    "48c1c733"  # rol rdi, 51       /
    "4887db"    # xchg rbx, rbx     (the request itself)
    "4889d0"    # mov rax, rdx
    "c3")       # ret

RUNNING_ON_VALGRIND = 0x1001
_CT = (ord("C") << 24) | (ord("T") << 16)
DUMP_STATS, ZERO_STATS, TOGGLE_COLLECT, DUMP_STATS_AT = _CT, _CT + 1, _CT + 2, _CT + 3
START_INSTRUMENTATION, STOP_INSTRUMENTATION = _CT + 4, _CT + 5


@cache
def _request_function() -> ctypes._CFuncPtr:
    if platform.machine() not in ("x86_64", "AMD64"):
        raise MLPBenchError(f"counts: Valgrind client requests are implemented for x86-64 only, not "
                            f"{platform.machine()}")
    page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(_CODE)
    address = ctypes.addressof(ctypes.c_char.from_buffer(page))
    function = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_uint64)(address)
    function._page = page  # the page lives as long as the function
    return function


def request(code: int, *args: int, default: int = 0) -> int:
    """One client request (up to five word arguments); ``default`` natively."""
    block = (ctypes.c_uint64 * 6)(code, *(list(args) + [0] * 5)[:5])
    return int(_request_function()(ctypes.addressof(block), default))


def running_on_valgrind() -> int:
    """How many Valgrinds this process runs under (0 natively)."""
    return request(RUNNING_ON_VALGRIND)


def zero_stats() -> None:
    request(ZERO_STATS)


def dump_stats_at(name: str) -> None:
    """Callgrind writes its counters since the last zero/dump to a new file, its description ``name``."""
    text = ctypes.create_string_buffer(name.encode())
    request(DUMP_STATS_AT, ctypes.addressof(text))
