"""Email over SMTP: plain, STARTTLS or implicit TLS, optional AUTH, multipart text + HTML.

``smtplib`` is blocking, so each send runs in a worker thread. The Message-ID is derived from the
idempotency key, so a duplicate that slips past the delivery ledger is recognisable downstream.
"""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import ClassVar

from pydantic import Field, SecretStr, field_validator, model_validator

from connectors.base import (
    AuthError,
    CheckResult,
    ConfigError,
    Connector,
    ConnectorConfig,
    ConnectorError,
    Notification,
    PermanentError,
    RetriableError,
    error_for_exception,
)


class EmailConfig(ConnectorConfig):
    host: str = Field(description="SMTP server host name")
    port: int = Field(587, ge=1, le=65535, description="SMTP port (587 STARTTLS, 465 TLS, 25)")
    username: str = Field("", description="SMTP AUTH user; empty = no authentication")
    password: SecretStr | None = Field(None, description="SMTP AUTH password")
    from_address: str = Field(description="Envelope and header From address")
    to_addresses: list[str] = Field(
        default_factory=list,
        description="Recipients of notifications (send_message brings its own)",
    )
    starttls: bool = Field(True, description="Upgrade the connection with STARTTLS")
    ssl: bool = Field(False, description="Implicit TLS from the first byte (port 465)")
    ca_file: str = Field("", description="CA bundle to trust (self-signed relays); empty = system")
    timeout: float = Field(30.0, gt=0, le=300, description="Seconds per SMTP operation")

    @field_validator("to_addresses", mode="before")
    @classmethod
    def _one_or_many(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _tls_modes(self) -> EmailConfig:
        if self.ssl and self.starttls:
            # implicit TLS already encrypts; asking for STARTTLS on top is a config mistake
            self.starttls = False
        return self


def message_id_for(idempotency_key: str, from_address: str) -> str:
    domain = from_address.rsplit("@", 1)[-1] or "recflow.local"
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<{digest}.recflow@{domain}>"


class EmailConnector(Connector):
    kind: ClassVar[str] = "email"
    display_name: ClassVar[str] = "Email (SMTP)"
    config_model: ClassVar[type[ConnectorConfig]] = EmailConfig
    capabilities: ClassVar[frozenset[str]] = frozenset({"notify", "send_email"})
    config: EmailConfig

    # ------------------------------------------------------------ capabilities

    async def notify(self, message: Notification, *, idempotency_key: str) -> str:
        if not self.config.to_addresses:
            raise ConfigError("email: no to_addresses configured")
        msg = EmailMessage()
        msg["Subject"] = message.title.replace("\n", " ")[:250]
        msg["From"] = self.config.from_address
        msg["To"] = ", ".join(self.config.to_addresses)
        msg["Message-ID"] = message_id_for(idempotency_key, self.config.from_address)
        text = message.text
        if message.link_url:
            text = f"{text}\n\n{message.link_text}: {message.link_url}"
        msg.set_content(text)
        if message.html:
            msg.add_alternative(message.html, subtype="html")
        return await self.send_message(msg)

    async def send_message(self, msg: EmailMessage) -> str:
        """Send a fully built message (the SMS-to-email flow builds its own layout).

        Fills in From, Date and Message-ID when absent; returns the Message-ID.
        """
        if "From" not in msg:
            msg["From"] = self.config.from_address
        if "Date" not in msg:
            msg["Date"] = formatdate(usegmt=True)
        if "Message-ID" not in msg:
            domain = self.config.from_address.rsplit("@", 1)[-1] or None
            msg["Message-ID"] = make_msgid(domain=domain)
        await asyncio.to_thread(self._send, msg)
        return str(msg["Message-ID"])

    async def check(self) -> CheckResult:
        try:
            await asyncio.to_thread(self._probe)
        except ConnectorError as e:
            return CheckResult(ok=False, code=e.code, message=str(e))
        return CheckResult(ok=True, message=f"SMTP {self.config.host}:{self.config.port} ok")

    # ------------------------------------------------------------ wire

    def _tls_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.config.ca_file or None)
        return ctx

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        try:
            smtp: smtplib.SMTP
            if c.ssl:
                smtp = smtplib.SMTP_SSL(
                    c.host, c.port, timeout=c.timeout, context=self._tls_context()
                )
            else:
                smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
            smtp.ehlo()
            if c.starttls:
                smtp.starttls(context=self._tls_context())
                smtp.ehlo()
            if c.username:
                if c.password is None:
                    raise ConfigError("email: username set without password")
                smtp.login(c.username, c.password.get_secret_value())
            return smtp
        except smtplib.SMTPNotSupportedError as e:
            raise ConfigError(f"email: server does not support this: {e}") from None
        except smtplib.SMTPAuthenticationError as e:
            raise AuthError(f"email: authentication failed ({e.smtp_code})") from None
        except smtplib.SMTPException as e:
            raise _map_smtp(e) from None
        except ConnectorError:
            raise
        except Exception as e:
            raise error_for_exception(e) from None

    def _send(self, msg: EmailMessage) -> None:
        smtp = self._connect()
        try:
            refused = smtp.send_message(msg)
        except smtplib.SMTPException as e:
            raise _map_smtp(e) from None
        except Exception as e:
            raise error_for_exception(e) from None
        finally:
            try:
                smtp.quit()
            except Exception:
                smtp.close()
        if refused:
            raise PermanentError(f"email: recipients refused: {sorted(refused)}")

    def _probe(self) -> None:
        smtp = self._connect()
        try:
            code, _ = smtp.noop()
            if code != 250:
                raise RetriableError(f"email: NOOP answered {code}")
        finally:
            try:
                smtp.quit()
            except Exception:
                smtp.close()


def _map_smtp(e: smtplib.SMTPException) -> ConnectorError:
    if isinstance(e, smtplib.SMTPServerDisconnected):
        return RetriableError(f"email: server disconnected: {e}")
    if isinstance(e, smtplib.SMTPAuthenticationError):
        return AuthError(f"email: authentication failed ({e.smtp_code})")
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        codes = [v[0] for v in e.recipients.values()]
        if codes and all(400 <= c < 500 for c in codes):
            return RetriableError(f"email: recipients deferred {codes}")
        return PermanentError(f"email: recipients refused {codes}")
    code = getattr(e, "smtp_code", None)
    if isinstance(code, int) and 400 <= code < 500:
        # 4xx SMTP replies are transient by definition (RFC 5321 §4.2.1)
        return RetriableError(f"email: transient failure {code}")
    return PermanentError(f"email: {type(e).__name__} {code or ''}".strip())
