"""Fakes of Linear (GraphQL), ClickUp, Zendesk, Freshdesk and Dynamics 365 (Dataverse Web API +
Entra ID token endpoint), speaking each vendor's documented request and response shapes.

Each keeps an in-memory store, checks credentials the way the vendor does (and answers a bad one
the way the vendor does), and records every request, so tests assert on what really went over the
wire. Built on :class:`tests.fakes.http.FakeHTTPServer` (loopback, free port, fault injection).
"""

from __future__ import annotations

import base64
import itertools
import re
import threading
import time
import uuid
from typing import Any
from urllib.parse import unquote

from connectors.phone import e164
from tests.fakes.http import FakeHTTPServer, Request, Response, bearer

_ids = itertools.count(1001)


def _basic(req: Request) -> tuple[str, str]:
    auth = req.headers.get("authorization", "")
    if not auth.lower().startswith("basic "):
        return "", ""
    user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
    return user, pw


# ---------------------------------------------------------------- Linear


class FakeLinear(FakeHTTPServer):
    """``POST /graphql``: the three operations the connector sends, parsed by operation name."""

    def __init__(self, api_key: str = "lin_api_test", team_id: str | None = None) -> None:
        super().__init__()
        self.api_key = api_key
        self.team_id = team_id or str(uuid.uuid4())
        self.issues: dict[str, dict[str, Any]] = {}
        counter = itertools.count(1)

        def error(message: str, code: str, status: int = 200, **ext: Any) -> Response:
            return Response(
                status,
                json={"errors": [{"message": message, "extensions": {"code": code, **ext}}]},
            )

        @self.route("POST", r"/graphql")
        def graphql(req: Request, _m: Any) -> Response:
            auth = req.headers.get("authorization", "")
            if auth not in (self.api_key, f"Bearer {self.api_key}"):
                # Linear answers a bad key with HTTP 400 and an AUTHENTICATION_ERROR
                return error(
                    "Authentication required, not authenticated",
                    "AUTHENTICATION_ERROR",
                    400,
                    type="authentication error",
                    userPresentableMessage="You need to authenticate to access this operation.",
                )
            body = req.json()
            query, variables = body.get("query", ""), body.get("variables") or {}
            if "issueCreate" in query:
                data = variables["input"]
                if data.get("teamId") != self.team_id:
                    return error("Entity not found: Team", "INVALID_INPUT")
                if not re.fullmatch(r"[0-9a-f-]{36}", data.get("id", "")):
                    return error("id must be a UUID", "INVALID_INPUT")
                if data["id"] in self.issues:
                    return error("duplicate key value violates unique constraint", "INVALID_INPUT")
                n = next(counter)
                issue = {
                    **data,
                    "identifier": f"ENG-{n}",
                    "url": f"https://linear.app/acme/issue/ENG-{n}",
                }
                self.issues[data["id"]] = issue
                out = {k: issue[k] for k in ("id", "identifier", "url")}
                return Response(
                    200, json={"data": {"issueCreate": {"success": True, "issue": out}}}
                )
            if "issues(filter" in query:
                want = variables.get("id")
                nodes = [
                    {k: i[k] for k in ("id", "identifier", "url")}
                    for i in self.issues.values()
                    if i["id"] == want
                ]
                return Response(200, json={"data": {"issues": {"nodes": nodes}}})
            if "viewer" in query:
                team = (
                    {"id": self.team_id, "key": "ENG", "name": "Engineering"}
                    if variables.get("team") == self.team_id
                    else None
                )
                return Response(
                    200, json={"data": {"viewer": {"id": "u1", "name": "Bot"}, "team": team}}
                )
            return error("Cannot query field", "GRAPHQL_VALIDATION_FAILED", 400)

    @property
    def api_url(self) -> str:
        return f"{self.url}/graphql"


# ---------------------------------------------------------------- ClickUp


class FakeClickUp(FakeHTTPServer):
    def __init__(self, token: str = "pk_test_token", list_id: str = "901") -> None:
        super().__init__()
        self.token = token
        self.list_id = list_id
        self.tasks: dict[str, dict[str, Any]] = {}

        def authed(fn):  # type: ignore[no-untyped-def]
            def wrap(req: Request, m: Any) -> Response:
                if req.headers.get("authorization") != self.token:
                    return Response(401, json={"err": "Token invalid", "ECODE": "OAUTH_025"})
                return fn(req, m)  # type: ignore[no-any-return]

            return wrap

        @self.route("GET", r"/api/v2/list/([^/]+)")
        @authed
        def get_list(req: Request, m: Any) -> Response:
            if m.group(1) != self.list_id:
                return Response(404, json={"err": "List not found", "ECODE": "ITEM_015"})
            return Response(200, json={"id": self.list_id, "name": "Calls"})

        @self.route("GET", r"/api/v2/list/([^/]+)/task")
        @authed
        def list_tasks(req: Request, m: Any) -> Response:
            tags = set(req.query.get("tags[]", []))
            found = [
                t
                for t in self.tasks.values()
                if t["list"]["id"] == m.group(1)
                and (not tags or tags & {x["name"] for x in t["tags"]})
            ]
            return Response(200, json={"tasks": found, "last_page": True})

        @self.route("POST", r"/api/v2/list/([^/]+)/task")
        @authed
        def create_task(req: Request, m: Any) -> Response:
            if m.group(1) != self.list_id:
                return Response(404, json={"err": "List not found", "ECODE": "ITEM_015"})
            body = req.json()
            if not body.get("name"):
                return Response(400, json={"err": "Task name invalid", "ECODE": "INPUT_005"})
            tid = f"86{next(_ids)}"
            task = {
                "id": tid,
                "name": body["name"],
                "markdown_description": body.get("markdown_description", ""),
                "tags": [{"name": t} for t in body.get("tags", [])],
                "priority": body.get("priority"),
                "list": {"id": m.group(1)},
                "url": f"https://app.clickup.com/t/{tid}",
            }
            self.tasks[tid] = task
            return Response(200, json=task)


# ---------------------------------------------------------------- Zendesk


class FakeZendesk(FakeHTTPServer):
    def __init__(self, email: str = "agent@acme.test", token: str = "zd-api-token") -> None:
        super().__init__()
        self.email, self.token = email, token
        self.users: dict[int, dict[str, Any]] = {}
        self.tickets: dict[int, dict[str, Any]] = {}

        def authed(fn):  # type: ignore[no-untyped-def]
            def wrap(req: Request, m: Any) -> Response:
                if _basic(req) != (f"{self.email}/token", self.token) and bearer(req) != self.token:
                    return Response(401, json={"error": "Couldn't authenticate you"})
                return fn(req, m)  # type: ignore[no-any-return]

            return wrap

        @self.route("GET", r"/api/v2/users/me\.json")
        @authed
        def me(req: Request, _m: Any) -> Response:
            return Response(200, json={"user": {"id": 1, "name": "Agent", "role": "agent"}})

        @self.route("GET", r"/api/v2/users/search\.json")
        @authed
        def search_users(req: Request, _m: Any) -> Response:
            q = req.q("query")
            found = [
                u
                for u in self.users.values()
                if q and (q in (u.get("phone") or "") or e164(q) == e164(u.get("phone") or ""))
            ]
            return Response(200, json={"users": found, "count": len(found), "next_page": None})

        @self.route("POST", r"/api/v2/users\.json")
        @authed
        def create_user(req: Request, _m: Any) -> Response:
            user = dict(req.json()["user"])
            user["id"] = next(_ids)
            self.users[user["id"]] = user
            return Response(201, json={"user": user})

        @self.route("GET", r"/api/v2/tickets\.json")
        @authed
        def list_tickets(req: Request, _m: Any) -> Response:
            ext = req.q("external_id")
            found = [t for t in self.tickets.values() if not ext or t.get("external_id") == ext]
            return Response(200, json={"tickets": found, "count": len(found), "next_page": None})

        @self.route("POST", r"/api/v2/tickets\.json")
        @authed
        def create_ticket(req: Request, _m: Any) -> Response:
            t = dict(req.json()["ticket"])
            if not t.get("comment", {}).get("body"):
                return Response(
                    422,
                    json={"error": "RecordInvalid", "description": "Record validation errors"},
                )
            t["id"] = next(_ids)
            t["description"] = t["comment"]["body"]
            t["status"] = "new"
            self.tickets[t["id"]] = t
            return Response(201, json={"ticket": t, "audit": {"id": next(_ids)}})

    def add_user(self, phone: str, name: str = "Known Caller") -> int:
        uid = next(_ids)
        self.users[uid] = {"id": uid, "name": name, "phone": phone, "role": "end-user"}
        return uid


# ---------------------------------------------------------------- Freshdesk


class FakeFreshdesk(FakeHTTPServer):
    def __init__(self, api_key: str = "fd-api-key") -> None:
        super().__init__()
        self.api_key = api_key
        self.contacts: dict[int, dict[str, Any]] = {}
        self.tickets: dict[int, dict[str, Any]] = {}

        def authed(fn):  # type: ignore[no-untyped-def]
            def wrap(req: Request, m: Any) -> Response:
                if _basic(req)[0] != self.api_key:
                    return Response(
                        401,
                        json={
                            "code": "invalid_credentials",
                            "message": "You have to be logged in to perform this action.",
                        },
                    )
                return fn(req, m)  # type: ignore[no-any-return]

            return wrap

        @self.route("GET", r"/api/v2/agents/me")
        @authed
        def me(req: Request, _m: Any) -> Response:
            return Response(200, json={"id": 1, "contact": {"name": "Agent"}})

        @self.route("GET", r"/api/v2/contacts")
        @authed
        def contacts(req: Request, _m: Any) -> Response:
            # Freshdesk filters contacts by an exact match on the stored string
            out = list(self.contacts.values())
            for field in ("phone", "mobile"):
                if field in req.query:
                    out = [c for c in out if c.get(field) == req.q(field)]
            return Response(200, json=out)

        @self.route("POST", r"/api/v2/contacts")
        @authed
        def create_contact(req: Request, _m: Any) -> Response:
            body = req.json()
            if not body.get("name"):
                return Response(
                    400,
                    json={
                        "description": "Validation failed",
                        "errors": [{"field": "name", "message": "It should be a/an String",
                                    "code": "missing_field"}],
                    },
                )  # fmt: skip
            cid = next(_ids)
            self.contacts[cid] = {"id": cid, "mobile": None, **body}
            return Response(201, json=self.contacts[cid])

        @self.route("GET", r"/api/v2/tickets")
        @authed
        def list_tickets(req: Request, _m: Any) -> Response:
            out = list(self.tickets.values())
            if "requester_id" in req.query:
                out = [t for t in out if str(t["requester_id"]) == req.q("requester_id")]
            out.sort(key=lambda t: t["id"], reverse=req.q("order_type", "desc") == "desc")
            return Response(200, json=out[: int(req.q("per_page", "30"))])

        @self.route("POST", r"/api/v2/tickets")
        @authed
        def create_ticket(req: Request, _m: Any) -> Response:
            body = req.json()
            missing = [f for f in ("subject", "description") if not body.get(f)]
            if missing or not (body.get("requester_id") or body.get("phone") or body.get("email")):
                return Response(400, json={"description": "Validation failed", "errors": []})
            tid = next(_ids)
            self.tickets[tid] = {"id": tid, "created_at": time.time(), **body}
            return Response(201, json=self.tickets[tid])

    def add_contact(self, phone: str, name: str = "Known Caller") -> int:
        cid = next(_ids)
        self.contacts[cid] = {"id": cid, "name": name, "phone": phone, "mobile": None}
        return cid


# ---------------------------------------------------------------- Dynamics 365


class FakeDynamics(FakeHTTPServer):
    """The Entra ID v2 token endpoint and the Dataverse Web API (contacts, leads, phonecalls)."""

    def __init__(
        self, tenant: str = "contoso.onmicrosoft.com", client_id: str = "app-1",
        secret: str = "dyn-client-secret",
    ) -> None:  # fmt: skip
        super().__init__()
        self.tenant, self.client_id, self.secret = tenant, client_id, secret
        self.tokens: dict[str, float] = {}
        self.token_requests = 0
        self.contacts: dict[str, dict[str, Any]] = {}
        self.leads: dict[str, dict[str, Any]] = {}
        self.phonecalls: dict[str, dict[str, Any]] = {}
        self.mu = threading.Lock()
        api = r"/api/data/v9\.2"

        @self.route("POST", r"/([^/]+)/oauth2/v2\.0/token")
        def token(req: Request, m: Any) -> Response:
            self.token_requests += 1
            form = {k: v[0] for k, v in req.form().items()}
            if m.group(1) != self.tenant:
                return Response(400, json={"error": "invalid_request",
                                           "error_description": "AADSTS90002: Tenant not found"})  # fmt: skip
            if form.get("grant_type") != "client_credentials":
                return Response(400, json={"error": "unsupported_grant_type"})
            if form.get("client_id") != self.client_id or form.get("client_secret") != self.secret:
                return Response(401, json={"error": "invalid_client",
                                           "error_description": "AADSTS7000215: Invalid client secret"})  # fmt: skip
            if not form.get("scope", "").endswith("/.default"):
                return Response(400, json={"error": "invalid_scope"})
            tok = f"eyJ.{uuid.uuid4().hex}"
            self.tokens[tok] = time.time() + 3599
            return Response(
                200, json={"token_type": "Bearer", "expires_in": 3599, "access_token": tok}
            )

        def authed(fn):  # type: ignore[no-untyped-def]
            def wrap(req: Request, m: Any) -> Response:
                if self.tokens.get(bearer(req), 0) < time.time():
                    return Response(401, body=b"", headers={
                        "WWW-Authenticate": 'Bearer error="invalid_token"'})  # fmt: skip
                if req.headers.get("odata-version") != "4.0":
                    return Response(
                        400, json={"error": {"code": "0x0", "message": "OData-Version"}}
                    )
                return fn(req, m)  # type: ignore[no-any-return]

            return wrap

        @self.route("GET", api + r"/WhoAmI")
        @authed
        def whoami(req: Request, _m: Any) -> Response:
            return Response(200, json={"UserId": "00000000-0000-0000-0000-00000000a001"})

        def query(store: dict[str, dict[str, Any]], req: Request) -> Response:
            flt = unquote(req.q("$filter"))
            pairs = re.findall(r"(\w+) eq '((?:[^']|'')*)'", flt)
            out = [
                r for r in store.values()
                if any(str(r.get(f) or "") == v.replace("''", "'") for f, v in pairs)
            ]  # fmt: skip
            out.sort(key=lambda r: r.get("modifiedon", ""), reverse=True)
            return Response(200, json={"@odata.context": "$metadata", "value": out})

        @self.route("GET", api + r"/contacts")
        @authed
        def contacts(req: Request, _m: Any) -> Response:
            return query(self.contacts, req)

        @self.route("GET", api + r"/leads")
        @authed
        def leads(req: Request, _m: Any) -> Response:
            return query(self.leads, req)

        @self.route("PATCH", api + r"/phonecalls\(([0-9a-f-]{36})\)")
        @authed
        def upsert(req: Request, m: Any) -> Response:
            body = req.json()
            with self.mu:
                rec = self.phonecalls.setdefault(m.group(1), {"activityid": m.group(1)})
                for k, v in body.items():
                    if k.endswith("@odata.bind"):
                        ref = re.fullmatch(r"/(contacts|leads)\(([^)]+)\)", v)
                        store = self.contacts if ref and ref.group(1) == "contacts" else self.leads
                        if not ref or ref.group(2) not in store:
                            return Response(400, json={"error": {
                                "code": "0x80040217", "message": f"{v} Does Not Exist"}})  # fmt: skip
                rec.update(body)
            return Response(204, body=b"", headers={
                "OData-EntityId": f"{self.url}/api/data/v9.2/phonecalls({m.group(1)})"})  # fmt: skip

    def add(self, entity: str, **fields: Any) -> str:
        rid = str(uuid.uuid4())
        store = self.contacts if entity == "contact" else self.leads
        store[rid] = {f"{entity}id": rid, "modifiedon": f"2024-01-0{len(store) + 1}T00:00:00Z",
                      **fields}  # fmt: skip
        return rid

    @property
    def instance_url(self) -> str:
        return self.url
