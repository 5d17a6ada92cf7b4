"""Portal identities: users (argon2 + TOTP + recovery codes + lockout), API tokens, sessions.

Time is always passed in (``now``) so lockout and expiry are tested without sleeping. Nothing
here knows about HTTP; the portal is a thin shell over these operations.
"""

from __future__ import annotations

import builtins
import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import InvalidToken
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, or_, select, update

from catalog import keys
from catalog.models import assume_utc, new_id, utcnow
from catalog.portal_tables import ApiTokenRow, SessionRow, UserRow
from catalog.repository import Catalog

TOTP_ISSUER = "recflow"
RECOVERY_CODES = 10
_hasher = PasswordHasher()
# verified when the e-mail is unknown, so a miss costs as much as a hit (no user enumeration)
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class Role(enum.StrEnum):
    admin = "admin"  # super user: everything, private calls included
    group_admin = "group_admin"  # manages the users and devices of their groups, sees their calls
    supervisor = "supervisor"  # recordings of their groups, configuration read-only
    user = "user"  # own recordings only

    @property
    def rank(self) -> int:
        return {"user": 0, "supervisor": 1, "group_admin": 2, "admin": 3}[self.value]


class User(BaseModel):
    """A portal user as the rest of the code sees it: no hashes, no secrets."""

    model_config = ConfigDict(extra="forbid")

    id: str
    email: str
    role: Role
    totp_enrolled: bool = Field(description="True once the first TOTP code was verified")
    numbers: list[str] = Field(default_factory=list, description="Own numbers/extensions")
    group_numbers: list[str] = Field(default_factory=list, description="Numbers supervised")
    failed_logins: int = 0
    locked_until: datetime | None = None
    disabled: bool = False
    created_at: datetime
    last_login_at: datetime | None = None
    sso_only: bool = Field(False, description="Signs in through single sign-on only")

    @property
    def is_admin(self) -> bool:
        return self.role is Role.admin


def _user(row: UserRow) -> User:
    return User(
        id=row.id,
        email=row.email,
        role=Role(row.role),
        totp_enrolled=row.totp_enrolled,
        numbers=list(row.numbers or []),
        group_numbers=list(row.group_numbers or []),
        failed_logins=row.failed_logins,
        locked_until=assume_utc(row.locked_until),
        disabled=row.disabled,
        created_at=assume_utc(row.created_at),
        last_login_at=assume_utc(row.last_login_at),
        sso_only=bool(row.sso_only),
    )


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class NewUser:
    user: User
    password: str  # shown once
    otpauth_uri: str  # shown once by the CLI; the first login shows the QR code again


@dataclass(frozen=True)
class LoginResult:
    ok: bool
    user: User | None = None
    reason: str = ""  # bad_credentials | locked | disabled | sso_only


class UserError(Exception):
    pass


class Users:
    """User operations over a catalog. Lockout: ``max_failures`` wrong passwords or codes in a
    row lock the account for ``lockout``; the counter resets on a full login."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        max_failures: int = 5,
        lockout: timedelta = timedelta(minutes=15),
    ) -> None:
        self.catalog = catalog
        self.db = catalog.db
        self.max_failures = max_failures
        self.lockout = lockout
        self._keys = catalog.settings.keyring()

    # ------------------------------------------------------------ lifecycle

    def create(
        self,
        email: str,
        role: Role | str,
        *,
        password: str | None = None,
        numbers: list[str] | None = None,
        group_numbers: list[str] | None = None,
        now: datetime | None = None,
        sso_only: bool = False,
    ) -> NewUser:
        email = email.strip().lower()
        if "@" not in email or len(email) > 320:
            raise UserError(f"not an e-mail address: {email!r}")
        role = Role(role)
        password = password or secrets.token_urlsafe(15)
        if len(password) < 12:
            raise UserError("passwords need at least 12 characters")
        totp_secret = pyotp.random_base32()
        with self.db.session() as s:
            if s.scalars(select(UserRow.id).where(UserRow.email == email)).first():
                raise UserError(f"user {email} exists")
            row = UserRow(
                id=new_id(),
                email=email,
                role=role.value,
                password_hash=_hasher.hash(password),
                totp_secret_enc=self._encrypt(totp_secret),
                totp_enrolled=False,
                totp_last_step=0,
                recovery_hashes=[],
                numbers=list(numbers or []),
                group_numbers=list(group_numbers or []),
                failed_logins=0,
                locked_until=None,
                disabled=False,
                created_at=now or utcnow(),
                last_login_at=None,
                sso_only=sso_only,
            )
            s.add(row)
            user = _user(row)
        return NewUser(user, password, self.otpauth_uri(user, totp_secret))

    def get(self, user_id: str) -> User | None:
        with self.db.session() as s:
            row = s.get(UserRow, user_id)
            return _user(row) if row else None

    def by_email(self, email: str) -> User | None:
        with self.db.session() as s:
            row = s.scalars(select(UserRow).where(UserRow.email == email.strip().lower())).first()
            return _user(row) if row else None

    def list(self) -> list[User]:
        with self.db.session() as s:
            return [_user(r) for r in s.scalars(select(UserRow).order_by(UserRow.email))]

    def set_password(self, user_id: str, password: str) -> None:
        if len(password) < 12:
            raise UserError("passwords need at least 12 characters")
        with self.db.session() as s:
            s.execute(
                update(UserRow)
                .where(UserRow.id == user_id)
                .values(password_hash=_hasher.hash(password))
            )

    def update(self, user_id: str, **values: object) -> None:
        allowed = {"role", "numbers", "group_numbers", "disabled", "sso_only"}
        if set(values) - allowed:
            raise UserError(f"cannot update {sorted(set(values) - allowed)}")
        if "role" in values:
            values["role"] = Role(values["role"]).value  # type: ignore[arg-type]
        with self.db.session() as s:
            s.execute(update(UserRow).where(UserRow.id == user_id).values(**values))

    def reset_totp(self, user_id: str) -> str:
        """A new TOTP secret, not yet enrolled (the next login shows the QR code), and no
        recovery codes; returns the otpauth URI (shown once)."""
        secret = pyotp.random_base32()
        with self.db.session() as s:
            row = s.get(UserRow, user_id)
            if row is None:
                raise UserError("no such user")
            row.totp_secret_enc = self._encrypt(secret)
            row.totp_enrolled = False
            row.totp_last_step = 0
            row.recovery_hashes = []
            user = _user(row)
        return self.otpauth_uri(user, secret)

    # ------------------------------------------------------------ first factor

    def authenticate(self, email: str, password: str, now: datetime) -> LoginResult:
        with self.db.session() as s:
            row = s.scalars(select(UserRow).where(UserRow.email == email.strip().lower())).first()
            if row is None:
                _verify(_DUMMY_HASH, password)
                return LoginResult(False, reason="bad_credentials")
            locked = assume_utc(row.locked_until)
            if locked is not None and locked > now:
                # the same password hashing as every other answer: a locked account must not
                # answer faster than an unknown one (account enumeration by timing)
                _verify(_DUMMY_HASH, password)
                return LoginResult(False, _user(row), "locked")
            if row.disabled:
                _verify(_DUMMY_HASH, password)
                return LoginResult(False, _user(row), "disabled")
            if not _verify(row.password_hash, password):
                self._count_failure(row, now)
                return LoginResult(False, _user(row), "bad_credentials")
            if row.sso_only:
                # only after the right password: a wrong one answers like any other, so the
                # form does not tell strangers which accounts use single sign-on
                return LoginResult(False, _user(row), "sso_only")
            if _hasher.check_needs_rehash(row.password_hash):
                row.password_hash = _hasher.hash(password)
            return LoginResult(True, _user(row))

    def _count_failure(self, row: UserRow, now: datetime) -> None:
        row.failed_logins += 1
        if row.failed_logins >= self.max_failures:
            row.locked_until = now + self.lockout
            row.failed_logins = 0

    def record_failure(self, user_id: str, now: datetime) -> None:
        """A wrong second factor counts toward the same lockout as a wrong password."""
        with self.db.session() as s:
            row = s.get(UserRow, user_id)
            if row is not None:
                self._count_failure(row, now)

    def record_success(self, user_id: str, now: datetime) -> None:
        with self.db.session() as s:
            s.execute(
                update(UserRow)
                .where(UserRow.id == user_id)
                .values(failed_logins=0, locked_until=None, last_login_at=now)
            )

    def is_locked(self, user_id: str, now: datetime) -> bool:
        user = self.get(user_id)
        return bool(user and user.locked_until and user.locked_until > now)

    # ------------------------------------------------------------ second factor

    def totp_secret(self, user_id: str) -> str:
        with self.db.session() as s:
            row = s.get(UserRow, user_id)
            if row is None:
                raise UserError("no such user")
            return self._decrypt(row.totp_secret_enc)

    def otpauth_uri(self, user: User, secret: str | None = None) -> str:
        secret = secret or self.totp_secret(user.id)
        return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)

    def verify_totp(self, user_id: str, code: str, now: datetime) -> bool:
        """Accept the current code or its neighbours (clock skew), each time step only once
        (a code seen on the wire cannot be replayed)."""
        code = "".join(ch for ch in code if ch.isdigit())
        if len(code) != 6:
            return False
        with self.db.session() as s:
            row = s.get(UserRow, user_id, with_for_update=True)
            if row is None:
                return False
            totp = pyotp.TOTP(self._decrypt(row.totp_secret_enc))
            step_now = int(now.timestamp()) // totp.interval
            for step in (step_now, step_now - 1, step_now + 1):
                if step <= row.totp_last_step:
                    continue
                if hmac.compare_digest(totp.generate_otp(step), code):
                    row.totp_last_step = step
                    return True
            return False

    def finish_enrolment(self, user_id: str) -> builtins.list[str]:
        """Mark TOTP enrolled and hand out the first set of recovery codes (shown once)."""
        with self.db.session() as s:
            s.execute(update(UserRow).where(UserRow.id == user_id).values(totp_enrolled=True))
        return self.new_recovery_codes(user_id)

    def new_recovery_codes(self, user_id: str) -> builtins.list[str]:
        codes = ["-".join(secrets.token_hex(3) for _ in range(2)) for _ in range(RECOVERY_CODES)]
        with self.db.session() as s:
            s.execute(
                update(UserRow)
                .where(UserRow.id == user_id)
                .values(recovery_hashes=[self._code_digest(c) for c in codes])
            )
        return codes

    def use_recovery_code(self, user_id: str, code: str) -> bool:
        digests = self._code_digests(code.strip().lower())
        with self.db.session() as s:
            row = s.get(UserRow, user_id, with_for_update=True)
            stored = row.recovery_hashes or [] if row is not None else []
            digest = next((d for d in digests if d in stored), None)
            if row is None or digest is None:
                return False
            row.recovery_hashes = [h for h in row.recovery_hashes if h != digest]
            return True

    def rotate_secrets(self) -> int:
        """Re-encrypt every TOTP seed under the current key (``recflow secrets rotate``);
        returns how many changed."""
        f = self._keys.fernet(keys.TOTP)
        n = 0
        with self.db.session() as s:
            for row in s.scalars(select(UserRow).where(UserRow.totp_secret_enc != "")):
                try:
                    new = f.rotate(row.totp_secret_enc.encode()).decode()
                except InvalidToken:
                    raise UserError(
                        f"TOTP secret of {row.email} cannot be decrypted with the current or "
                        "previous keys (RECFLOW_SECRET_KEY_PREVIOUS)"
                    ) from None
                if new != row.totp_secret_enc:
                    row.totp_secret_enc = new
                    n += 1
        return n

    def recovery_codes_left(self, user_id: str) -> int:
        with self.db.session() as s:
            row = s.get(UserRow, user_id)
            return len(row.recovery_hashes or []) if row else 0

    # ------------------------------------------------------------ helpers

    def _code_digest(self, code: str) -> str:
        # 48-bit random codes: a keyed fast hash is enough and keeps 10 comparisons cheap
        return self._code_digests(code)[0]

    def _code_digests(self, code: str) -> list[str]:
        """The digest under every key that may have made it (current first): codes made before
        a key rotation keep working while the previous key is configured."""
        return [
            hmac.new(k, code.encode(), hashlib.sha256).hexdigest()
            for k in self._keys.keys(keys.RECOVERY_CODES)
        ]

    def _encrypt(self, value: str) -> str:
        return self._keys.fernet(keys.TOTP).encrypt(value.encode()).decode()

    def _decrypt(self, value: str) -> str:
        try:
            return self._keys.fernet(keys.TOTP).decrypt(value.encode()).decode()
        except InvalidToken:
            raise UserError(
                "TOTP secret cannot be decrypted: RECFLOW_SECRET_KEY changed?"
            ) from None


def _verify(hash_: str, password: str) -> bool:
    try:
        return _hasher.verify(hash_, password)
    except (VerificationError, InvalidHashError):
        return False


# ---------------------------------------------------------------- API tokens


class ApiToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    prefix: str = Field(description="First characters of the token, to recognise it in lists")
    created_by: str = ""
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


def _token(row: ApiTokenRow) -> ApiToken:
    return ApiToken(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        created_by=row.created_by,
        created_at=assume_utc(row.created_at),
        last_used_at=assume_utc(row.last_used_at),
        revoked_at=assume_utc(row.revoked_at),
    )


class ApiTokens:
    """Bearer tokens for /api/v1. Stored as SHA-256 digests: shown once, never recoverable."""

    PREFIX = "rf_"

    def __init__(self, catalog: Catalog) -> None:
        self.db = catalog.db

    def create(
        self, name: str, *, created_by: str = "", now: datetime | None = None
    ) -> tuple[ApiToken, str]:
        name = name.strip()
        if not name or len(name) > 128:
            raise UserError("a token needs a name of 1-128 characters")
        secret = self.PREFIX + secrets.token_urlsafe(32)
        row = ApiTokenRow(
            id=new_id(),
            name=name,
            token_sha256=_digest(secret),
            prefix=secret[:8],
            created_by=created_by,
            created_at=now or utcnow(),
            last_used_at=None,
            revoked_at=None,
        )
        with self.db.session() as s:
            s.add(row)
            return _token(row), secret

    def verify(self, secret: str, now: datetime | None = None) -> ApiToken | None:
        if not secret.startswith(self.PREFIX) or len(secret) > 200:
            return None
        now = now or utcnow()
        with self.db.session() as s:
            row = s.scalars(
                select(ApiTokenRow).where(ApiTokenRow.token_sha256 == _digest(secret))
            ).first()
            if row is None or row.revoked_at is not None:
                return None
            last = assume_utc(row.last_used_at)
            if last is None or now - last > timedelta(minutes=1):
                row.last_used_at = now  # throttled: one write a minute per token at most
            return _token(row)

    def list(self, *, include_revoked: bool = False) -> list[ApiToken]:
        q = select(ApiTokenRow).order_by(ApiTokenRow.created_at)
        if not include_revoked:
            q = q.where(ApiTokenRow.revoked_at.is_(None))
        with self.db.session() as s:
            return [_token(r) for r in s.scalars(q)]

    def revoke(self, id_or_name: str, now: datetime | None = None) -> builtins.list[ApiToken]:
        with self.db.session() as s:
            rows = s.scalars(
                select(ApiTokenRow).where(
                    or_(ApiTokenRow.id == id_or_name, ApiTokenRow.name == id_or_name),
                    ApiTokenRow.revoked_at.is_(None),
                )
            ).all()
            for row in rows:
                row.revoked_at = now or utcnow()
            return [_token(r) for r in rows]


# ---------------------------------------------------------------- sessions


@dataclass(frozen=True)
class PortalSession:
    raw_id: str
    user_id: str
    stage: str  # password | full
    created_at: datetime
    expires_at: datetime


class Sessions:
    """Server-side sessions: the cookie carries a signed random id; the row decides whether it
    is still valid, so logout and lockout end a session at once. Expiry is the earlier of an
    absolute lifetime and an idle timeout."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        idle: timedelta = timedelta(minutes=30),
        absolute: timedelta = timedelta(hours=12),
        pending: timedelta = timedelta(minutes=5),
    ) -> None:
        self.db = catalog.db
        self.idle = idle
        self.absolute = absolute
        self.pending = pending  # a half-done login (password only) lives this long

    def create(self, user_id: str, stage: str, client_ip: str, now: datetime) -> str:
        raw = secrets.token_urlsafe(32)
        ttl = self.pending if stage != "full" else self.idle
        with self.db.session() as s:
            s.add(
                SessionRow(
                    id_sha256=_digest(raw),
                    user_id=user_id,
                    stage=stage,
                    client_ip=client_ip,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=min(now + ttl, now + self.absolute),
                )
            )
        return raw

    def get(self, raw: str, now: datetime) -> PortalSession | None:
        with self.db.session() as s:
            row = s.get(SessionRow, _digest(raw))
            if row is None:
                return None
            expires = assume_utc(row.expires_at)
            assert expires is not None
            if expires <= now:
                s.delete(row)
                return None
            created = assume_utc(row.created_at)
            assert created is not None
            last = assume_utc(row.last_seen_at)
            if row.stage == "full" and last is not None and now - last > timedelta(seconds=30):
                # sliding idle window, written at most every 30 s per session
                row.last_seen_at = now
                row.expires_at = min(now + self.idle, created + self.absolute)
                expires = assume_utc(row.expires_at)
            return PortalSession(raw, row.user_id, row.stage, created, expires)  # type: ignore[arg-type]

    def promote(self, raw: str, client_ip: str, now: datetime) -> str | None:
        """Password + second factor proven: replace the half session by a full one under a new
        id (no session fixation across the privilege change)."""
        with self.db.session() as s:
            row = s.get(SessionRow, _digest(raw))
            if row is None:
                return None
            user_id = row.user_id
            s.delete(row)
        return self.create(user_id, "full", client_ip, now)

    def delete(self, raw: str) -> None:
        with self.db.session() as s:
            s.execute(delete(SessionRow).where(SessionRow.id_sha256 == _digest(raw)))

    def delete_for_user(self, user_id: str) -> None:
        with self.db.session() as s:
            s.execute(delete(SessionRow).where(SessionRow.user_id == user_id))

    def purge_expired(self, now: datetime) -> int:
        with self.db.session() as s:
            res = s.execute(delete(SessionRow).where(SessionRow.expires_at <= now))
            return res.rowcount  # type: ignore[attr-defined, no-any-return]
