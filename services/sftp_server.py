"""The hosted SFTP server (asyncssh, server side) over :mod:`services.sftp_tree`.

Password authentication against the SFTP user's credentials (:mod:`services.sftp_settings`),
the account's IP allow-list, read-only: opening for write, remove, rename, mkdir, rmdir,
setstat, symlink and link all answer ``SSH_FX_PERMISSION_DENIED``; a missing path answers
``SSH_FX_NO_SUCH_FILE``. Every download (a successful open of a file) is written to the audit
trail with the user, the client address and the file. Catalog work and conversions run in
threads, so one client's MP3 conversion never stalls another client's listing.

:class:`SftpService` owns the listener: it follows the ``sftp_server`` settings (polling the
catalog), so enabling, disabling or moving the port from the portal or the CLI takes effect
without restarting anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat as statmod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncssh

from catalog.audit import Audit
from catalog.models import utcnow
from catalog.repository import Catalog
from catalog.users import Role, User
from services.sftp_files import ConversionCache, call_file, open_sms_csv
from services.sftp_settings import (
    SftpServerSettings,
    address_allowed,
    authenticate,
    host_key,
    load_settings,
    sftp_visibility,
)
from services.sftp_tree import Entry, Node, NodeKind, NotFound, SftpTree

log = logging.getLogger("recflow.sftp")

READ_CHUNK = 256 * 1024
DIR_MODE = statmod.S_IFDIR | 0o555
FILE_MODE = statmod.S_IFREG | 0o444
_WRITE_FLAGS = asyncssh.FXF_WRITE | asyncssh.FXF_APPEND | asyncssh.FXF_CREAT | asyncssh.FXF_TRUNC


def _denied(what: str) -> asyncssh.SFTPError:
    return asyncssh.SFTPError(asyncssh.FX_PERMISSION_DENIED, f"read-only: {what} refused")


def _missing(path: str) -> asyncssh.SFTPError:
    return asyncssh.SFTPError(asyncssh.FX_NO_SUCH_FILE, f"no such file: {path}")


def _dec(path: bytes) -> str:
    return path.decode("utf-8", "replace")


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _longname(e: Entry) -> bytes:
    """The ``ls -l`` line clients show (v3), in UTC; asyncssh's generic one costs more than
    everything else in a 10,000-file listing."""
    t = datetime.fromtimestamp(e.mtime, UTC)
    mode = "dr-xr-xr-x" if e.is_dir else "-r--r--r--"
    return (
        f"{mode}    1 sftp     sftp     {e.size:>8d} {_MONTHS[t.month - 1]} {t.day:2d}  {t.year} "
    ).encode()


@dataclass
class OpenFile:
    fd: int
    size: int
    node: Node


class SessionContext:
    """What one SSH connection carries: its user, address and the service's shared parts."""

    def __init__(self, service: SftpService) -> None:
        self.service = service
        self.user: User | None = None
        self.username = ""
        self.peer = ""


class _SSHServer(asyncssh.SSHServer):
    def __init__(self, service: SftpService) -> None:
        self.ctx = SessionContext(service)

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        peer = conn.get_extra_info("peername") or ("", 0)
        self.ctx.peer = str(peer[0])
        conn.set_extra_info(recflow_ctx=self.ctx)
        if not address_allowed(self.ctx.peer, self.ctx.service.allow_list()):
            log.warning("sftp: %s not on the IP allow-list", self.ctx.peer)
            conn.close()

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    async def validate_password(self, username: str, password: str) -> bool:
        svc = self.ctx.service
        user = await asyncio.to_thread(authenticate, svc.catalog, username, password, utcnow())
        if user is None:
            log.info("sftp: failed login for %r from %s", username[:64], self.ctx.peer)
            await asyncio.to_thread(
                svc.audit.record,
                "sftp.login",
                initiator=f"sftp:{username[:64]}",
                client_ip=self.ctx.peer,
                outcome="denied",
            )
            return False
        self.ctx.user, self.ctx.username = user, username
        return True


class _SFTPServer(asyncssh.SFTPServer):
    def __init__(self, chan: asyncssh.SSHServerChannel) -> None:
        super().__init__(chan)
        ctx: SessionContext = chan.get_connection().get_extra_info("recflow_ctx")
        assert ctx.user is not None
        self.ctx = ctx
        self.svc = ctx.service
        self.tree = self.svc.tree_for(ctx.user)

    # ------------------------------------------------------------ reading

    async def _resolve(self, path: bytes) -> Node:
        try:
            return await asyncio.to_thread(self.tree.resolve, _dec(path))
        except NotFound:
            raise _missing(_dec(path)) from None

    def _attrs(self, node: Node) -> asyncssh.SFTPAttrs:
        if node.kind is NodeKind.DIR:
            return asyncssh.SFTPAttrs(
                type=asyncssh.FILEXFER_TYPE_DIRECTORY,
                permissions=DIR_MODE,
                size=0,
                mtime=int(node.mtime),
                atime=int(node.mtime),
            )
        size = 0
        if node.kind is NodeKind.CALL and node.call and node.fmt:
            size = self.tree.size(node.call, node.fmt)
        return asyncssh.SFTPAttrs(
            type=asyncssh.FILEXFER_TYPE_REGULAR,
            permissions=FILE_MODE,
            size=size,
            mtime=int(node.mtime),
            atime=int(node.mtime),
        )

    def realpath(self, path: bytes) -> bytes:
        from services.sftp_tree import split

        return ("/" + "/".join(split(_dec(path)))).encode()

    async def stat(self, path: bytes) -> asyncssh.SFTPAttrs:
        return self._attrs(await self._resolve(path))

    async def lstat(self, path: bytes) -> asyncssh.SFTPAttrs:
        return self._attrs(await self._resolve(path))

    async def scandir(self, path: bytes) -> AsyncIterator[asyncssh.SFTPName]:
        node = await self._resolve(path)
        if node.kind is not NodeKind.DIR:
            raise asyncssh.SFTPError(asyncssh.FX_NO_SUCH_FILE, f"not a directory: {_dec(path)}")
        entries = await asyncio.to_thread(self.tree.list_dir, node)
        here = self._attrs(node)
        yield asyncssh.SFTPName(b".", attrs=here)
        yield asyncssh.SFTPName(b"..", attrs=here)
        for e in entries:
            name = e.name.encode()
            yield asyncssh.SFTPName(
                name,
                longname=_longname(e) + name,
                attrs=asyncssh.SFTPAttrs(
                    type=asyncssh.FILEXFER_TYPE_DIRECTORY
                    if e.is_dir
                    else asyncssh.FILEXFER_TYPE_REGULAR,
                    permissions=DIR_MODE if e.is_dir else FILE_MODE,
                    size=e.size,
                    mtime=int(e.mtime),
                    atime=int(e.mtime),
                ),
            )

    async def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> OpenFile:
        if pflags & _WRITE_FLAGS:
            await self._audit_refusal("write", path)
            raise _denied("write")
        node = await self._resolve(path)
        if node.kind is NodeKind.DIR:
            raise asyncssh.SFTPError(asyncssh.FX_FAILURE, f"is a directory: {_dec(path)}")
        try:
            fd = await asyncio.to_thread(self._open_node, node)
        except Exception as e:  # conversion or store failure: one line to the client
            log.exception("sftp: cannot serve %s", node.path)
            raise asyncssh.SFTPError(asyncssh.FX_FAILURE, f"cannot read: {e}") from None
        size = os.fstat(fd).st_size
        await asyncio.to_thread(self._audit_download, node, size)
        return OpenFile(fd, size, node)

    def _open_node(self, node: Node) -> int:
        if node.kind is NodeKind.CALL:
            assert node.call is not None and node.fmt is not None
            path = call_file(self.svc.catalog, self.svc.cache, node.call, node.fmt)
            return os.open(path, os.O_RDONLY)
        assert node.month is not None
        return open_sms_csv(
            self.svc.catalog, *node.month, self.tree.sms_numbers, self.svc.cache.root
        )

    def _audit_download(self, node: Node, size: int) -> None:
        if node.kind is NodeKind.CALL:
            assert node.call is not None and node.fmt is not None
            resource, detail = f"recording:{node.call.id}", f"format={node.fmt.value}"
        else:
            assert node.month is not None
            resource, detail = f"sms:{node.month[0]:04d}-{node.month[1]:02d}", "format=CSV"
        self.svc.audit.record(
            "sftp.download",
            initiator=f"sftp:{self.ctx.username}",
            client_ip=self.ctx.peer,
            resource=resource,
            detail=f"{detail} bytes={size} path={node.path}",
        )

    async def _audit_refusal(self, what: str, path: bytes) -> None:
        await asyncio.to_thread(
            self.svc.audit.record,
            "sftp.refused",
            initiator=f"sftp:{self.ctx.username}",
            client_ip=self.ctx.peer,
            resource=_dec(path)[:500],
            outcome="denied",
            detail=what,
        )

    def read(self, file_obj: object, offset: int, size: int) -> bytes:
        assert isinstance(file_obj, OpenFile)
        # Clients ask for up to 4 MiB per request with 16+ requests in flight; answering at most
        # READ_CHUNK (a legal short read: clients ask again for the rest) bounds what one
        # download holds in memory to ~16 x READ_CHUNK.
        return os.pread(file_obj.fd, min(size, READ_CHUNK), offset)

    def fstat(self, file_obj: object) -> asyncssh.SFTPAttrs:
        assert isinstance(file_obj, OpenFile)
        return asyncssh.SFTPAttrs(
            type=asyncssh.FILEXFER_TYPE_REGULAR,
            permissions=FILE_MODE,
            size=file_obj.size,
            mtime=int(file_obj.node.mtime),
            atime=int(file_obj.node.mtime),
        )

    def close(self, file_obj: object) -> None:
        assert isinstance(file_obj, OpenFile)
        os.close(file_obj.fd)

    # ------------------------------------------------------------ refused

    async def write(self, file_obj: object, offset: int, data: bytes) -> int:
        raise _denied("write")

    async def remove(self, path: bytes) -> None:
        await self._audit_refusal("remove", path)
        raise _denied("remove")

    async def rename(self, oldpath: bytes, newpath: bytes) -> None:
        await self._audit_refusal("rename", oldpath)
        raise _denied("rename")

    async def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        await self._audit_refusal("rename", oldpath)
        raise _denied("rename")

    async def mkdir(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        await self._audit_refusal("mkdir", path)
        raise _denied("mkdir")

    async def rmdir(self, path: bytes) -> None:
        await self._audit_refusal("rmdir", path)
        raise _denied("rmdir")

    def setstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        raise _denied("setstat")

    def lsetstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        raise _denied("setstat")

    def fsetstat(self, file_obj: object, attrs: asyncssh.SFTPAttrs) -> None:
        raise _denied("setstat")

    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        raise _denied("symlink")

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        raise _denied("link")

    def readlink(self, path: bytes) -> bytes:
        raise asyncssh.SFTPError(asyncssh.FX_NO_SUCH_FILE, "no links here")


class SftpService:
    """The SFTP listener of one process, following the ``sftp_server`` settings."""

    def __init__(self, catalog: Catalog, *, poll_seconds: float = 5.0) -> None:
        self.catalog = catalog
        self.audit = Audit(catalog)
        self.poll_seconds = poll_seconds
        self.server: asyncssh.SSHAcceptor | None = None
        self.serving: SftpServerSettings | None = None
        self.cache = ConversionCache(
            cache_dir(catalog),
            load_settings(catalog).cache_mb * 1024 * 1024,
        )
        self._allow: tuple[float, list[str]] = (0.0, [])

    def allow_list(self) -> list[str]:
        now = asyncio.get_event_loop().time()
        if now >= self._allow[0]:
            self._allow = (now + 5.0, list(self.catalog.account().ip_allow_list))
        return self._allow[1]

    def tree_for(self, user: User) -> SftpTree:
        vis = sftp_visibility(user)
        return SftpTree(
            self.catalog,
            vis,
            show_sms=True,
            sms_numbers=None
            if user.role is Role.admin
            else frozenset(user.numbers) | frozenset(user.group_numbers),
            converted_size=self.cache.size_of,
        )

    @property
    def port(self) -> int | None:
        if self.server is None:
            return None
        return int(self.server.sockets[0].getsockname()[1])

    async def apply(self, settings: SftpServerSettings) -> None:
        """Listen as ``settings`` say (start, stop, or move to another port/address)."""
        want = settings if settings.enabled else None
        same = (
            self.serving is not None
            and want is not None
            and (self.serving.port, self.serving.bind) == (want.port, want.bind)
        )
        self.cache.max_bytes = settings.cache_mb * 1024 * 1024
        if same or (want is None and self.server is None):
            self.serving = want
            return
        await self.close()
        if want is None:
            return
        key = await asyncio.to_thread(host_key, self.catalog)
        self.server = await asyncssh.listen(
            want.bind,
            want.port,
            server_host_keys=[key],
            server_factory=lambda: _SSHServer(self),
            sftp_factory=_SFTPServer,
            allow_scp=False,
            agent_forwarding=False,
        )
        self.serving = want
        log.info("sftp: listening on %s:%d", want.bind, self.port)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        self.serving = None

    async def run(self, stop: asyncio.Event, on_change: Any = None) -> None:
        """Follow the settings until ``stop`` is set."""
        try:
            while not stop.is_set():
                try:
                    settings = await asyncio.to_thread(load_settings, self.catalog)
                    before = self.serving
                    await self.apply(settings)
                    if on_change is not None and before != self.serving:
                        on_change(self.serving, self.port)
                except OSError as e:  # port taken: say so, try again on the next poll
                    log.error("sftp: cannot listen: %s", e)
                    self.serving = None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_seconds)
        finally:
            await self.close()


def cache_dir(catalog: Catalog) -> Path:
    return catalog.settings.resolved_data_dir / "sftp-cache"
