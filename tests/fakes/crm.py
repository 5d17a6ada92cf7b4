"""Fakes of the CRM / ticket / sheet APIs: HubSpot, Salesforce (TLS), Jira, Google Sheets.

Each keeps an in-memory store and speaks the REST shapes the official SDKs use, so tests (and
demos, benchmarks) exercise hubspot-api-client, simple-salesforce, jira and gspread for real.
"""

from __future__ import annotations

import itertools
import re
import threading
from typing import Any
from urllib.parse import unquote

from connectors.phone import e164
from tests.fakes.http import FakeHTTPServer, Request, Response, bearer

_ids = itertools.count(1)


# ---------------------------------------------------------------- HubSpot


class FakeHubSpot(FakeHTTPServer):
    def __init__(self, token: str = "pat-test-token") -> None:
        super().__init__()
        self.token = token
        self.contacts: dict[str, dict[str, Any]] = {}
        self.calls: dict[str, dict[str, Any]] = {}
        self.associations: list[tuple[str, str, int]] = []
        self.mu = threading.Lock()

        def authed(fn):  # type: ignore[no-untyped-def]
            def wrap(req: Request, m: Any) -> Response:
                if bearer(req) != self.token:
                    return Response(
                        401, json={"status": "error", "category": "INVALID_AUTHENTICATION"}
                    )
                return fn(req, m)  # type: ignore[no-any-return]

            return wrap

        def match(obj: dict[str, Any], groups: list[dict[str, Any]]) -> bool:
            for g in groups:  # OR of ANDs
                ok = True
                for f in g.get("filters", []):
                    val = str(obj.get(f["propertyName"]) or "")
                    want = str(f.get("value", ""))
                    if f["propertyName"] in ("phone", "mobilephone"):
                        ok &= bool(val) and e164(val) == e164(want)
                    else:
                        ok &= val == want
                if ok:
                    return True
            return False

        def page(objs: dict[str, dict[str, Any]], body: dict[str, Any]) -> Response:
            found = [
                {
                    "id": i,
                    "properties": p,
                    "archived": False,
                    "createdAt": "2024-01-01T00:00:00Z",
                    "updatedAt": "2024-01-01T00:00:00Z",
                }
                for i, p in objs.items()
                if match(p, body.get("filterGroups", []))
            ]
            return Response(
                200, json={"total": len(found), "results": found[: body.get("limit", 10)]}
            )

        @self.route("POST", r"/crm/v3/objects/contacts/search")
        @authed
        def contacts_search(req: Request, _m: Any) -> Response:
            return page(self.contacts, req.json())

        @self.route("GET", r"/crm/v3/objects/contacts")
        @authed
        def contacts_page(req: Request, _m: Any) -> Response:
            return Response(200, json={"results": []})

        @self.route("POST", r"/crm/v3/objects/calls/search")
        @authed
        def calls_search(req: Request, _m: Any) -> Response:
            return page(self.calls, req.json())

        @self.route("POST", r"/crm/v3/objects/calls")
        @authed
        def calls_create(req: Request, _m: Any) -> Response:
            body = req.json()
            props = body.get("properties", {})
            if "hs_timestamp" not in props:
                return Response(400, json={"status": "error", "message": "hs_timestamp required"})
            with self.mu:
                cid = str(next(_ids))
                self.calls[cid] = dict(props)
                for a in body.get("associations", []):
                    for t in a.get("types", []):
                        self.associations.append(
                            (cid, str(a["to"]["id"]), int(t["associationTypeId"]))
                        )
            return Response(
                201,
                json={
                    "id": cid,
                    "properties": props,
                    "archived": False,
                    "createdAt": "2024-01-01T00:00:00Z",
                    "updatedAt": "2024-01-01T00:00:00Z",
                },
            )

        @self.route("PATCH", r"/crm/v3/objects/calls/(\d+)")
        @authed
        def calls_update(req: Request, m: Any) -> Response:
            cid = m.group(1)
            if cid not in self.calls:
                return Response(404, json={"status": "error"})
            self.calls[cid].update(req.json().get("properties", {}))
            return Response(
                200,
                json={
                    "id": cid,
                    "properties": self.calls[cid],
                    "archived": False,
                    "createdAt": "2024-01-01T00:00:00Z",
                    "updatedAt": "2024-01-01T00:00:00Z",
                },
            )

    def add_contact(self, phone: str, **props: Any) -> str:
        cid = str(next(_ids))
        self.contacts[cid] = {"phone": phone, "lastmodifieddate": "2024-01-01T00:00:00Z", **props}
        return cid


# ---------------------------------------------------------------- Salesforce


class FakeSalesforce(FakeHTTPServer):
    """REST API v59.0 over TLS: SOSL search, SOQL on Task, Task create/update/upsert."""

    def __init__(self, token: str = "00Dsession!token", version: str = "59.0") -> None:
        super().__init__(tls=True)
        self.token = token
        self.records: dict[str, dict[str, dict[str, Any]]] = {"Contact": {}, "Lead": {}, "Task": {}}
        self.mu = threading.Lock()
        base = rf"/services/data/v{re.escape(version)}"
        # OAuth 2.0 token endpoint (client credentials, JWT bearer) of a connected app
        self.consumer_key, self.consumer_secret = "3MVG9-consumer-key", "connected-app-secret"
        self.jwt_public_key: Any = None  # set by tests: the connected app's certificate key
        self.token_requests: list[dict[str, str]] = []

        @self.route("POST", r"/services/oauth2/token")
        def token(req: Request, _m: Any) -> Response:
            import base64

            form = {k: v[0] for k, v in req.form().items()}
            self.token_requests.append(form)
            bad = Response(400, json={"error": "invalid_client",
                                      "error_description": "invalid client credentials"})  # fmt: skip
            if form.get("grant_type") == "client_credentials":
                basic = req.headers.get("authorization", "")[6:]
                user, _, pw = base64.b64decode(basic or b"").decode().partition(":")
                if (user, pw) != (self.consumer_key, self.consumer_secret):
                    return bad
            elif form.get("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer":
                import jwt

                try:
                    claims = jwt.decode(form.get("assertion", ""), self.jwt_public_key,
                                        algorithms=["RS256"], options={"verify_aud": False})  # fmt: skip
                except Exception:
                    return Response(400, json={"error": "invalid_grant",
                                               "error_description": "invalid assertion"})  # fmt: skip
                if claims.get("iss") != self.consumer_key:
                    return bad
            else:
                return Response(400, json={"error": "unsupported_grant_type"})
            return Response(200, json={"access_token": self.token, "instance_url": self.url,
                                       "token_type": "Bearer", "scope": "api"})  # fmt: skip

        def authed(fn):  # type: ignore[no-untyped-def]
            def wrap(req: Request, m: Any) -> Response:
                if bearer(req) != self.token:
                    return Response(
                        401,
                        json=[
                            {
                                "message": "Session expired or invalid",
                                "errorCode": "INVALID_SESSION_ID",
                            }
                        ],
                    )
                return fn(req, m)  # type: ignore[no-any-return]

            return wrap

        @self.route("GET", base + r"/search/?")
        @authed
        def search(req: Request, _m: Any) -> Response:
            q = req.q("q")
            term = re.search(r"FIND \{(.*?)\}", q)
            if not term:
                return Response(400, json=[{"errorCode": "MALFORMED_SEARCH"}])
            # SOSL phone search is loose (digits, any format); the connector decides exactly
            digits = re.sub(r"\D", "", term.group(1))[-9:]
            out = []
            for typ in ("Contact", "Lead"):
                if f"{typ}(" not in q:
                    continue
                for rid, rec in self.records[typ].items():
                    phones = [
                        rec.get(f) for f in ("Phone", "MobilePhone", "HomePhone", "OtherPhone")
                    ]
                    if any(p and re.sub(r"\D", "", p).endswith(digits) for p in phones):
                        out.append({"attributes": {"type": typ}, "Id": rid, **rec})
            return Response(200, json={"searchRecords": out})

        @self.route("GET", base + r"/query/?")
        @authed
        def query(req: Request, _m: Any) -> Response:
            q = req.q("q")
            m = re.search(r"FROM (\w+)(?: WHERE (\w+) = '((?:[^'\\]|\\.)*)')?", q)
            if not m:
                return Response(400, json=[{"errorCode": "MALFORMED_QUERY"}])
            obj, fld, val = m.group(1), m.group(2), m.group(3)
            recs = [
                {"attributes": {"type": obj}, "Id": rid}
                for rid, r in self.records.get(obj, {}).items()
                if fld is None or str(r.get(fld)) == re.sub(r"\\(.)", r"\1", val or "")
            ]
            if "LIMIT 1" in q:
                recs = recs[:1]
            return Response(200, json={"totalSize": len(recs), "done": True, "records": recs})

        @self.route("POST", base + r"/sobjects/Task/?")
        @authed
        def create(req: Request, _m: Any) -> Response:
            body = req.json()
            with self.mu:
                rid = f"00T{next(_ids):015d}"
                self.records["Task"][rid] = body
            return Response(201, json={"id": rid, "success": True, "errors": []})

        @self.route("PATCH", base + r"/sobjects/Task/(\w+)/(.+)")
        @authed
        def upsert(req: Request, m: Any) -> Response:
            fld, val = m.group(1), unquote(m.group(2))
            body = req.json()
            with self.mu:
                for rec in self.records["Task"].values():
                    if str(rec.get(fld)) == val:
                        rec.update({k: v for k, v in body.items() if k != "TaskSubtype"})
                        return Response(204)
                rid = f"00T{next(_ids):015d}"
                self.records["Task"][rid] = {**body, fld: val}
            return Response(201, json={"id": rid, "success": True, "errors": [], "created": True})

        @self.route("PATCH", base + r"/sobjects/Task/(\w+)")
        @authed
        def update(req: Request, m: Any) -> Response:
            rid = m.group(1)
            body = req.json()
            if rid not in self.records["Task"]:
                return Response(404, json=[{"errorCode": "NOT_FOUND"}])
            if "TaskSubtype" in body:
                return Response(400, json=[{"errorCode": "INVALID_FIELD_FOR_INSERT_UPDATE"}])
            self.records["Task"][rid].update(body)
            return Response(204)

    def add(self, obj: str, **fields: Any) -> str:
        prefix = {"Contact": "003", "Lead": "00Q"}[obj]
        rid = f"{prefix}{next(_ids):015d}"
        self.records[obj][rid] = {"LastModifiedDate": "2024-01-01T00:00:00.000+0000", **fields}
        return rid

    @property
    def tasks(self) -> dict[str, dict[str, Any]]:
        return self.records["Task"]


# ---------------------------------------------------------------- Jira


class FakeJira(FakeHTTPServer):
    def __init__(self, user: str = "bot@example.com", token: str = "jira-api-token") -> None:
        super().__init__()
        import base64

        self.expected = "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()
        self.issues: dict[str, dict[str, Any]] = {}
        counter = itertools.count(1)

        def authed(fn):  # type: ignore[no-untyped-def]
            def wrap(req: Request, m: Any) -> Response:
                if req.headers.get("authorization") != self.expected:
                    return Response(401, json={"errorMessages": ["Unauthorized"]})
                return fn(req, m)  # type: ignore[no-any-return]

            return wrap

        @self.route("GET", r"/rest/api/2/myself")
        @authed
        def myself(req: Request, _m: Any) -> Response:
            return Response(200, json={"accountId": "1", "displayName": "recflow bot"})

        @self.route("GET", r"/rest/api/2/field")
        @authed
        def fields(req: Request, _m: Any) -> Response:
            names = ["summary", "description", "labels", "project", "issuetype"]
            return Response(
                200, json=[{"id": n, "name": n.capitalize(), "custom": False} for n in names]
            )

        @self.route("GET", r"/rest/api/2/search")
        @authed
        def search(req: Request, _m: Any) -> Response:
            jql = req.q("jql")
            label = re.search(r'labels = "([^"]+)"', jql)
            found = [
                self._issue(k)
                for k, f in self.issues.items()
                if label and label.group(1) in f.get("labels", [])
            ]
            return Response(
                200, json={"startAt": 0, "maxResults": 50, "total": len(found), "issues": found}
            )

        @self.route("POST", r"/rest/api/2/issue")
        @authed
        def create(req: Request, _m: Any) -> Response:
            fields = req.json()["fields"]
            missing = [f for f in ("project", "summary", "issuetype") if f not in fields]
            if missing:
                return Response(400, json={"errors": {f: "required" for f in missing}})
            key = f"{fields['project']['key']}-{next(counter)}"
            self.issues[key] = fields
            return Response(
                201,
                json={
                    "id": str(len(self.issues)),
                    "key": key,
                    "self": f"{self.url}/rest/api/2/issue/{key}",
                },
            )

        @self.route("GET", r"/rest/api/2/issue/([A-Z]+-\d+)")
        @authed
        def get(req: Request, m: Any) -> Response:
            if m.group(1) not in self.issues:
                return Response(404, json={"errorMessages": ["Issue does not exist"]})
            return Response(200, json=self._issue(m.group(1)))

    def _issue(self, key: str) -> dict[str, Any]:
        return {
            "id": key.split("-")[1],
            "key": key,
            "self": f"{self.url}/rest/api/2/issue/{key}",
            "fields": self.issues[key],
        }


# ---------------------------------------------------------------- Google Sheets


class FakeSheets(FakeHTTPServer):
    """Sheets API v4: spreadsheet metadata, values get (A:A columns), values append."""

    def __init__(
        self,
        spreadsheet_id: str = "sheet123",
        token: str = "ya29.test-token",
        title: str = "Sheet1",
    ) -> None:
        super().__init__()
        self.spreadsheet_id = spreadsheet_id
        self.token = token
        self.title = title
        self.rows: list[list[str]] = []
        self.mu = threading.Lock()

        def authed(fn):  # type: ignore[no-untyped-def]
            def wrap(req: Request, m: Any) -> Response:
                if bearer(req) != self.token:
                    return Response(
                        401,
                        json={
                            "error": {
                                "code": 401,
                                "message": "invalid credentials",
                                "status": "UNAUTHENTICATED",
                            }
                        },
                    )
                if m.group(1) != self.spreadsheet_id:
                    return Response(
                        404,
                        json={
                            "error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}
                        },
                    )
                return fn(req, m)  # type: ignore[no-any-return]

            return wrap

        @self.route("GET", r"/v4/spreadsheets/([^/]+)")
        @authed
        def meta(req: Request, _m: Any) -> Response:
            return Response(
                200,
                json={
                    "spreadsheetId": self.spreadsheet_id,
                    "properties": {"title": "Calls"},
                    "sheets": [
                        {
                            "properties": {
                                "sheetId": 0,
                                "title": self.title,
                                "index": 0,
                                "gridProperties": {"rowCount": 1000, "columnCount": 26},
                            }
                        }
                    ],
                },
            )

        @self.route("GET", r"/v4/spreadsheets/([^/]+)/values/(.+)")
        @authed
        def values_get(req: Request, m: Any) -> Response:
            rng = unquote(m.group(2))
            if req.q("majorDimension") == "COLUMNS" and re.search(r"!A1?:A$", rng):
                col = [r[0] if r else "" for r in self.rows]
                # like the real API, an empty range has no "values" key at all
                out: dict[str, Any] = {"range": rng, "majorDimension": "COLUMNS"}
                if col:
                    out["values"] = [col]
                return Response(200, json=out)
            out = {"range": rng, "majorDimension": "ROWS"}
            if self.rows:
                out["values"] = self.rows
            return Response(200, json=out)

        @self.route("POST", r"/v4/spreadsheets/([^/]+)/values/(.+):append")
        @authed
        def append(req: Request, _m: Any) -> Response:
            if req.q("valueInputOption") not in ("RAW", "USER_ENTERED"):
                return Response(
                    400, json={"error": {"code": 400, "message": "valueInputOption required"}}
                )
            values = req.json()["values"]
            with self.mu:
                start = len(self.rows) + 1
                self.rows.extend([[str(v) for v in row] for row in values])
                end = len(self.rows)
            rng = f"{self.title}!A{start}:{chr(64 + max(len(r) for r in values))}{end}"
            return Response(
                200,
                json={
                    "spreadsheetId": self.spreadsheet_id,
                    "tableRange": f"{self.title}!A1",
                    "updates": {"updatedRange": rng, "updatedRows": len(values)},
                },
            )
