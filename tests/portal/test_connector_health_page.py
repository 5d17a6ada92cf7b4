"""The connectors page shows each connector's health: last success, last error, and the
"needs re-authentication" state when credentials stopped working."""

from __future__ import annotations

from datetime import timedelta

from catalog.connector_configs import put_connector
from catalog.models import Delivery, DeliveryStatus
from connectors.configured import make_stored
from tests.portal.portal_support import logged_in


def test_connectors_page_shows_health(app, catalog, clock, admin):  # type: ignore[no-untyped-def]
    stored = make_stored(
        name="desk",
        kind="clickup",
        values={"api_token": "pk_x", "list_id": "1"},
        secret_key=catalog.settings.resolved_secret_key(),
    )
    put_connector(catalog, stored)
    later = clock.now + timedelta(days=1)
    for n, (status, error) in enumerate(
        [(DeliveryStatus.succeeded, ""), (DeliveryStatus.failed, "invalid_auth: HTTP 401: clickup")]
    ):
        catalog.record_delivery(
            Delivery(subject_id=f"s{n}", connector="desk", action="notify",
                     idempotency_key=f"k{n}", status=status, error=error,
                     created_at=later + timedelta(minutes=n), updated_at=later + timedelta(minutes=n))
        )  # fmt: skip
    page = logged_in(app, admin, clock).get("/connectors").text
    row = page[page.index('id="connector-desk"') :].split("</tr>", 1)[0]
    assert "Needs re-authentication" in row
    assert "last error: invalid_auth: HTTP 401: clickup" in row
    assert "last success" in row
