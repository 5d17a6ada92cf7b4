"""SIP over TLS (RFC 3261 §26, RFC 5630's sip: with ``transport=tls``): the server-side
``ssl.SSLContext`` the recorder listens with (default port 5061).

SBCs commonly send SIPREC over TLS. The certificate and key are files (PEM); with a CA file the
recorder also asks for and verifies the peer's certificate (mutual TLS), which then is the
strongest statement of who may send calls. TLS 1.2 is the floor.
"""

from __future__ import annotations

import ssl
from pathlib import Path


class TlsConfigError(ValueError):
    pass


def server_context(
    cert: Path, key: Path | None = None, client_ca: Path | None = None
) -> ssl.SSLContext:
    """A server context: ``cert`` (chain, PEM) and ``key``; ``client_ca`` turns on mutual TLS."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(cert), str(key) if key else None)
    except (OSError, ssl.SSLError) as e:
        raise TlsConfigError(f"cannot load TLS certificate {cert}: {e}") from None
    if client_ca is not None:
        try:
            ctx.load_verify_locations(cafile=str(client_ca))
        except (OSError, ssl.SSLError) as e:
            raise TlsConfigError(f"cannot load client CA {client_ca}: {e}") from None
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx
