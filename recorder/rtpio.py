"""Batched datagram reads for the RTP hot path: ``recvmmsg(2)`` through ctypes.

One system call reads up to :data:`VLEN` datagrams of one socket into preallocated buffers,
with each datagram's source address and kernel arrival time (SO_TIMESTAMPNS). What came back
is handed on as one :class:`recorder.media.RtpBatch` (a few numpy arrays), so the per-packet
cost is the kernel's copy and nothing in Python: no bytes, tuple or list per datagram.

Where ``recvmmsg`` is missing (not Linux), :class:`PacketReader` does the same job with
``socket.recvmsg`` one datagram at a time and yields the classic ``recvmsg`` tuples, which
:mod:`recorder.media` accepts as well.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
import socket
import struct
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from recorder.media import SO_TIMESTAMPNS, RtpBatch

log = logging.getLogger("recflow.recorder")

VLEN = 64  # datagrams per system call (~1.3 s of one 50 packet/s stream)
SLOT = 2048  # bytes per datagram; longer ones are truncated, as recv(2048) did
_NAME = 32  # room for a sockaddr_in6 (28)
_CTRL = 64  # room for the SO_TIMESTAMPNS control message (32) and then some
_MSG_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0x40)
_IGNORED_ERRORS = (errno.EAGAIN, errno.EWOULDBLOCK, errno.ECONNREFUSED, errno.EINTR)


class _IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _MsgHdr(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_void_p),
        ("namelen", ctypes.c_uint32),
        ("iov", ctypes.c_void_p),
        ("iovlen", ctypes.c_size_t),
        ("control", ctypes.c_void_p),
        ("controllen", ctypes.c_size_t),
        ("flags", ctypes.c_int),
    ]


class _MMsgHdr(ctypes.Structure):
    _fields_ = [("hdr", _MsgHdr), ("len", ctypes.c_uint)]


def _load_recvmmsg() -> Any:
    if not hasattr(socket.socket, "recvmsg") or os.uname().sysname != "Linux":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.recvmmsg
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
    fn.restype = ctypes.c_int
    return fn


_recvmmsg = _load_recvmmsg()
_CMSG = struct.Struct("@NiiqQ")  # cmsg_len, level, type, tv_sec, tv_nsec


class BatchReader:
    """Reads every waiting datagram of a socket with as few ``recvmmsg`` calls as possible.

    One instance (one set of buffers) serves all sockets of a server: batches copy out what
    they need before the next read.
    """

    available = _recvmmsg is not None

    def __init__(self) -> None:
        if _recvmmsg is None:
            raise OSError("recvmmsg is not available")
        self.data = np.zeros((VLEN, SLOT), dtype=np.uint8)
        self.names = np.zeros((VLEN, _NAME), dtype=np.uint8)
        self.ctrl = np.zeros((VLEN, _CTRL), dtype=np.uint8)
        self.iov = (_IoVec * VLEN)()
        self.msgs = (_MMsgHdr * VLEN)()
        for i in range(VLEN):
            self.iov[i].base = self.data.ctypes.data + i * SLOT
            self.iov[i].len = SLOT
            h = self.msgs[i].hdr
            h.name = self.names.ctypes.data + i * _NAME
            h.iov = ctypes.addressof(self.iov[i])
            h.iovlen = 1
            h.control = self.ctrl.ctypes.data + i * _CTRL
        base = _MMsgHdr.hdr.offset
        # numpy views of the fields the kernel writes (and the two it needs reset each call)
        view = np.dtype(
            {
                "names": ["namelen", "controllen", "len"],
                "formats": [np.uint32, np.uintp, np.uint32],
                "offsets": [
                    base + _MsgHdr.namelen.offset,
                    base + _MsgHdr.controllen.offset,
                    _MMsgHdr.len.offset,
                ],
                "itemsize": ctypes.sizeof(_MMsgHdr),
            }
        )
        self.fields = np.frombuffer(self.msgs, dtype=view)
        # plain strided views of single fields are much cheaper to slice than the record view
        self._lens = np.ndarray(
            (VLEN,), np.uint32, self.msgs, _MMsgHdr.len.offset, (ctypes.sizeof(_MMsgHdr),)
        )
        self._ctl_lens = np.ndarray(
            (VLEN,),
            np.uintp,
            self.msgs,
            base + _MsgHdr.controllen.offset,
            (ctypes.sizeof(_MMsgHdr),),
        )
        self._ctrl64 = self.ctrl.view(np.int64)  # row: cmsg_len, level|type, tv_sec, tv_nsec
        self._names64 = self.names.view(np.uint64)
        self._name_words = 2  # sockaddr_in; set per socket family in drain()
        self._ptr = ctypes.addressof(self.msgs)
        self._hosts: dict[bytes, tuple[str, int]] = {}
        ts = _CMSG.size
        self._cmsg_head = _CMSG.pack(ts, socket.SOL_SOCKET, SO_TIMESTAMPNS, 0, 0)[:16]
        self._cmsg_ok = np.frombuffer(self._cmsg_head, dtype=np.uint8)

    def drain(self, fd: int, sink: Callable[[Any], None] | None) -> int:
        """Read until the socket is empty; ``sink`` gets one batch per call (None: discard)."""
        total = 0
        fields = self.fields
        while True:
            fields["namelen"] = _NAME
            fields["controllen"] = _CTRL
            n = _recvmmsg(fd, self._ptr, VLEN, _MSG_DONTWAIT, None)
            if n <= 0:
                if n < 0:
                    err = ctypes.get_errno()
                    if err not in _IGNORED_ERRORS and err != errno.EBADF:
                        log.warning("RTP socket error: %s", os.strerror(err))
                return total
            total += n
            if sink is not None:
                # sockaddr_in is 16 bytes, sockaddr_in6 28: compare whole 8-byte words
                self._name_words = (int(fields["namelen"][0]) + 7) // 8
                sink(self._batch(n))
            if n < VLEN:
                return total  # the socket had fewer than VLEN waiting: it is empty now

    def _batch(self, n: int) -> RtpBatch:
        lengths = self._lens[:n].astype(np.int64)
        width = min(int(lengths.max()), SLOT)
        data = self.data[:n, :width].copy()
        # every datagram carries exactly the one SO_TIMESTAMPNS message we asked for
        ctl = self._ctl_lens[:n]
        if int(ctl.min()) == _CMSG.size == int(ctl.max()) and self._cmsg_ok_row():
            stamps = self._ctrl64[:n]
            arrival = stamps[:, 2] + stamps[:, 3] * 1e-9
        else:
            arrival = self._arrival_slow(n)
        names = self._names64[:n, : self._name_words]
        if n == 1 or (names == names[0]).all():
            return RtpBatch(data, lengths, arrival, self._host(self.names[0].tobytes()))
        namelens = self.fields["namelen"]
        hosts = [self._host(self.names[i, : int(namelens[i])].tobytes()) for i in range(n)]
        return RtpBatch(data, lengths, arrival, None, hosts)

    def _cmsg_ok_row(self) -> bool:
        return bytes(self.ctrl[0, :16]) == self._cmsg_head

    def _arrival_slow(self, n: int) -> np.ndarray:
        ctrl = self.ctrl[:n]
        has_ts = (self._ctl_lens[:n] >= _CMSG.size) & (ctrl[:, :16] == self._cmsg_ok).all(axis=1)
        stamps = self._ctrl64[:n]
        arrival = stamps[:, 2] + stamps[:, 3] * 1e-9
        arrival[~has_ts] = np.nan
        return arrival

    def _host(self, sockaddr: bytes) -> tuple[str, int]:
        host = self._hosts.get(sockaddr)
        if host is None:
            host = _sockaddr_host(sockaddr)
            if len(self._hosts) < 10000:
                self._hosts[sockaddr] = host
        return host


def _sockaddr_host(sa: bytes) -> tuple[str, int]:
    """The (host, port) ``socket.recvmsg`` would give for this ``struct sockaddr``."""
    if len(sa) < 4:
        return ("", 0)
    family = int.from_bytes(sa[:2], sys.byteorder)
    port = int.from_bytes(sa[2:4], "big")
    if family == socket.AF_INET and len(sa) >= 8:
        return (socket.inet_ntop(socket.AF_INET, sa[4:8]), port)
    if family == socket.AF_INET6 and len(sa) >= 24:
        host = socket.inet_ntop(socket.AF_INET6, sa[8:24])
        scope = int.from_bytes(sa[24:28], sys.byteorder)
        if scope:
            try:
                host += "%" + socket.if_indextoname(scope)
            except OSError:
                host += f"%{scope}"
        return (host, port)
    return ("", 0)


class PacketReader:
    """The portable fallback: one ``recvmsg`` per datagram (the tuples it returns)."""

    def __init__(self, socks: dict[int, socket.socket]) -> None:
        self.socks = socks

    def drain(self, fd: int, sink: Callable[[Any], None] | None) -> int:
        sock = self.socks.get(fd)
        if sock is None:
            return 0
        recv = sock.recvmsg
        n = 0
        try:
            while True:
                item = recv(SLOT, 64)
                n += 1
                if sink is not None:
                    sink(item)
        except BlockingIOError:
            pass
        except OSError as e:
            if e.errno not in _IGNORED_ERRORS:
                log.warning("RTP socket error: %s", e)
        return n
