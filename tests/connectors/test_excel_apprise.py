"""Excel (a real .xlsx read back with openpyxl and as raw XML) and Apprise (real Apprise plugins
posting to loopback fakes: the generic JSON target and Mattermost's incoming-webhook shape)."""

from __future__ import annotations

import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from openpyxl import load_workbook

from connectors.base import AuthError, ConfigError, Notification, RetriableError
from tests.fakes.http import FakeHTTPServer, Request, Response


def _excel(path: Path, **kw: object):  # type: ignore[no-untyped-def]
    from connectors.excel import ExcelConfig, ExcelConnector

    return ExcelConnector(ExcelConfig.model_validate({"path": str(path), **kw}))


def _rows(path: Path, sheet: str = "Calls") -> list[tuple[object, ...]]:
    return [tuple(r) for r in load_workbook(path)[sheet].iter_rows(values_only=True)]


async def test_excel_creates_header_and_one_row_per_key(tmp_path: Path) -> None:
    path = tmp_path / "calls.xlsx"
    c = _excel(path, columns=["recording_id", "from_number", "subject"])
    assert "will be created" in (await c.check()).message
    assert await c.append_row({"recording_id": "r1", "from_number": "+447700900151",
                               "subject": "first"}, idempotency_key="k1") == "Calls!A2"  # fmt: skip
    # a retry of the same delivery updates its row, never adds one
    assert await c.append_row({"recording_id": "r1", "subject": "again"}, idempotency_key="k1") == (
        "Calls!A2"
    )
    assert await c.append_row({"recording_id": "r2"}, idempotency_key="k2") == "Calls!A3"
    assert _rows(path) == [
        ("key", "recording_id", "from_number", "subject"),
        ("k1", "r1", None, "again"),  # the retry's row has no from_number: updated as sent
        ("k2", "r2", None, None),
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".calls.xlsx.lock", "calls.xlsx"]
    assert (await c.check()).ok


async def test_excel_never_writes_a_formula(tmp_path: Path) -> None:
    from connectors.excel import safe_cell

    path = tmp_path / "calls.xlsx"
    c = _excel(path, columns=["subject", "from_number", "transcript_excerpt"])
    await c.append_row(
        {"subject": '=HYPERLINK("http://evil","x")', "from_number": "+447700900151",
         "transcript_excerpt": "@SUM(1+1)\x07"},
        idempotency_key="k",
    )  # fmt: skip
    with zipfile.ZipFile(path) as z:
        sheet = z.read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet  # no formula element anywhere
    row = _rows(path)[1]
    assert row == ("k", '\'=HYPERLINK("http://evil","x")', "+447700900151", "'@SUM(1+1)")
    assert safe_cell("-12.5") == "-12.5" and safe_cell("-cmd|' /C calc'!A0").startswith("'")
    assert safe_cell("") == "" and safe_cell("\tx") == "'\tx"


async def test_excel_keeps_a_users_column_order_and_adds_new_columns(tmp_path: Path) -> None:
    from openpyxl import Workbook

    path = tmp_path / "calls.xlsx"
    wb = Workbook()
    ws = wb.active
    ws.title = "Calls"
    ws.append(["subject", "notes by hand", "key"])
    ws.append(["old", "keep me", "k0"])
    wb.save(path)
    c = _excel(path, columns=["subject", "recording_id"])
    await c.append_row({"subject": "new", "recording_id": "r1"}, idempotency_key="k1")
    assert _rows(path) == [
        ("subject", "notes by hand", "key", "recording_id"),
        ("old", "keep me", "k0", None),
        ("new", None, "k1", "r1"),
    ]


def test_excel_concurrent_writers_lose_no_row(tmp_path: Path) -> None:
    path = tmp_path / "calls.xlsx"

    def one(i: int) -> str:
        # a connector per delivery, as the worker builds them
        return _excel(path, columns=["recording_id"]).upsert_row({"recording_id": f"r{i}"}, f"k{i}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(40)))
    keys = sorted(r[0] for r in _rows(path)[1:])
    assert keys == sorted(f"k{i}" for i in range(40))


async def test_excel_bad_file_and_folder_are_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xlsx"
    bad.write_text("not a zip")
    with pytest.raises(ConfigError):
        await _excel(bad).append_row({}, idempotency_key="k")
    with pytest.raises(ConfigError):
        await _excel(tmp_path / "missing" / "x.xlsx").append_row({}, idempotency_key="k")
    assert (await _excel(tmp_path / "missing" / "x.xlsx").check()).code == "invalid_config"
    with pytest.raises(ValueError):
        _excel(tmp_path / "calls.csv")


# ---------------------------------------------------------------- Apprise


class FakeTargets(FakeHTTPServer):
    """A generic JSON receiver (Apprise json://) and a Mattermost incoming webhook (mmost://)."""

    def __init__(self) -> None:
        super().__init__()
        self.json_posts: list[Request] = []
        self.mattermost: list[dict[str, object]] = []

        @self.route("POST", r"/notify")
        def notify(req: Request, _m: object) -> Response:
            self.json_posts.append(req)
            return Response(200, json={"ok": True})

        @self.route("POST", r"/hooks/([A-Za-z0-9]+)")
        def mm(req: Request, m: object) -> Response:
            self.mattermost.append(req.json())
            return Response(200, body=b"ok")


def _apprise(urls: object, **kw: object):  # type: ignore[no-untyped-def]
    from connectors.apprise import AppriseConfig, AppriseConnector

    return AppriseConnector(AppriseConfig.model_validate({"urls": urls, **kw}), name="ap")


def _msg() -> Notification:
    return Notification(
        title="Keyword alert: cancel",
        text="Caller said cancel.",
        link_url="https://recflow.example.com/recordings/r1",
        severity="warning",
    )


async def test_apprise_sends_to_every_target_in_its_own_shape() -> None:
    with FakeTargets() as fake:
        host = f"127.0.0.1:{fake.port}"
        c = _apprise([f"json://{host}/notify", f"mmost://{host}/abc123token"])
        assert await c.notify(_msg(), idempotency_key="k") == "apprise:2"
        [post] = fake.json_posts
        body = post.json()
        assert body["title"] == "Keyword alert: cancel" and body["type"] == "warning"
        assert "Caller said cancel." in body["message"]
        assert "https://recflow.example.com/recordings/r1" in body["message"]
        [mm] = fake.mattermost
        assert "Caller said cancel." in str(mm.get("text"))
        assert (await c.check()).ok


async def test_apprise_templates_render_title_and_body() -> None:
    with FakeTargets() as fake:
        c = _apprise(
            f"json://127.0.0.1:{fake.port}/notify",
            title_template="[{{ message.severity | upper }}] {{ message.title }}",
            body_template="{{ message.text }} ({{ data.rid }})",
        )
        msg = _msg().model_copy(update={"data": {"rid": "r1"}})
        await c.notify(msg, idempotency_key="k")
        body = fake.json_posts[0].json()
        assert body["title"] == "[WARNING] Keyword alert: cancel"
        assert body["message"] == "Caller said cancel. (r1)"


async def test_apprise_partial_failure_retries_only_the_failed_target() -> None:
    with FakeTargets() as fake:
        host = f"127.0.0.1:{fake.port}"
        c = _apprise(f"mmost://{host}/tok1, json://{host}/notify")
        fake.fail_next(503, path_contains="/notify")
        with pytest.raises(RetriableError, match="target 2"):
            await c.notify(_msg(), idempotency_key="k")
        assert len(fake.mattermost) == 1
        assert await c.notify(_msg(), idempotency_key="k") == "apprise:2"
        # the Mattermost post is not repeated by the retry
        assert len(fake.mattermost) == 1 and len(fake.seen("POST", "/notify")) == 2


async def test_apprise_refusals_are_classified() -> None:
    with FakeTargets() as fake:
        c = _apprise(f"json://127.0.0.1:{fake.port}/notify")
        fake.fail_next(401)
        with pytest.raises(AuthError):
            await c.notify(_msg(), idempotency_key="a")
        port = fake.port
    closed = _apprise(f"json://127.0.0.1:{port}/notify?cto=1&rto=1")
    with pytest.raises(RetriableError):
        await closed.notify(_msg(), idempotency_key="b")


def test_apprise_urls_are_secret_and_validated() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="entry 2"):
        _apprise("json://127.0.0.1/notify, nosuchscheme://secret-token@x")
    with pytest.raises(ValidationError):
        _apprise("")
    c = _apprise(["tgram://123456:SECRETBOTTOKEN/987654"])
    assert "SECRETBOTTOKEN" not in repr(c) and "SECRETBOTTOKEN" not in c.config.model_dump_json()
