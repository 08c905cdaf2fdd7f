"""A local stand-in for the Grafana HTTP API: replays recorded responses, records requests.

No Grafana can run in the tests, so this server (stdlib `http.server` on
127.0.0.1, a free port) answers the endpoints `healthscore grafana publish`
calls with the response bodies recorded under `tests/fixtures/grafana/`
(Grafana 11/12 shapes), filled in with the uids and versions it was sent. It
keeps what it was given, so a second publish meets existing resources just as
it would on a real Grafana.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "grafana"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]


@dataclass
class State:
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    contact_points: dict[str, dict[str, Any]] = field(default_factory=dict)
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=lambda: fixture("policies"))


Response = tuple[int, Any]
NOT_FOUND: Response = (404, {"message": "Not found"})


class FakeGrafana:
    def __init__(self, token: str = "glsa_recorded_token", forbidden: frozenset = frozenset()):
        self.token = token
        self.forbidden = forbidden  # {(method, path)} answered 403, as for a Viewer token
        self.requests: list[Request] = []
        self.state = State()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeGrafana:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def calls(self, since: int = 0) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.requests[since:]]

    # --- routing ---------------------------------------------------------------

    def answer(self, request: Request) -> Response:
        self.requests.append(request)
        method, path = request.method, request.path
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return 401, fixture("error_401")
        if (method, path) in self.forbidden:
            return 403, fixture("error_403")
        for pattern, handler in self._routes():
            match = re.fullmatch(pattern, f"{method} {path}")
            if match:
                return handler(request, *match.groups())
        return NOT_FOUND

    def _routes(self) -> list[tuple[str, Any]]:
        return [
            (r"GET /api/frontend/settings", lambda r: (200, fixture("frontend_settings"))),
            (r"GET /api/folders/([\w-]+)", self._get_folder),
            (r"POST /api/folders", self._create_folder),
            (r"GET /api/datasources/uid/([\w-]+)", self._get_datasource),
            (r"POST /api/datasources", self._create_datasource),
            (r"PUT /api/datasources/uid/([\w-]+)", self._update_datasource),
            (r"POST /api/dashboards/db", self._save_dashboard),
            (r"GET /api/v1/provisioning/contact-points", self._list_contact_points),
            (r"POST /api/v1/provisioning/contact-points", self._create_contact_point),
            (r"PUT /api/v1/provisioning/contact-points/([\w-]+)", self._update_contact_point),
            (r"GET /api/v1/provisioning/alert-rules/([\w-]+)", self._get_rule),
            (r"POST /api/v1/provisioning/alert-rules", self._create_rule),
            (r"PUT /api/v1/provisioning/alert-rules/([\w-]+)", self._update_rule),
            (r"GET /api/v1/provisioning/policies", lambda r: (200, self.state.policy)),
            (r"PUT /api/v1/provisioning/policies", self._set_policy),
        ]

    def _get_folder(self, _: Request, uid: str) -> Response:
        if uid not in self.state.folders:
            return 404, fixture("folder_not_found")
        return 200, self.state.folders[uid]

    def _create_folder(self, request: Request) -> Response:
        uid = request.body["uid"]
        if uid in self.state.folders:
            return 409, {"message": "a folder with the same uid already exists"}
        folder = {**fixture("folder"), "uid": uid, "title": request.body["title"]}
        self.state.folders[uid] = folder
        return 200, folder

    def _datasource_view(self, uid: str) -> dict[str, Any]:
        stored = self.state.datasources[uid]
        view = {
            **fixture("datasource"),
            **{k: v for k, v in stored.items() if k != "secureJsonData"},
        }
        view["secureJsonFields"] = {k: True for k in stored.get("secureJsonData", {})}
        return view

    def _get_datasource(self, _: Request, uid: str) -> Response:
        if uid not in self.state.datasources:
            return 404, fixture("datasource_not_found")
        return 200, self._datasource_view(uid)

    def _create_datasource(self, request: Request) -> Response:
        uid = request.body["uid"]
        if uid in self.state.datasources:
            return 409, {"message": "data source with the same uid already exists"}
        self.state.datasources[uid] = {**copy.deepcopy(request.body), "version": 1}
        return 200, {**fixture("datasource_saved"), "datasource": self._datasource_view(uid)}

    def _update_datasource(self, request: Request, uid: str) -> Response:
        stored = self.state.datasources.get(uid)
        if stored is None:
            return 404, fixture("datasource_not_found")
        if stored.get("readOnly"):
            return 403, {"message": "Cannot modify read-only data source"}
        secrets = request.body.get("secureJsonData") or stored.get("secureJsonData", {})
        version = stored["version"] + 1
        self.state.datasources[uid] = {
            **request.body,
            "secureJsonData": secrets,
            "version": version,
        }
        saved = {**fixture("datasource_saved"), "message": "Datasource updated"}
        return 200, {**saved, "datasource": self._datasource_view(uid)}

    def _save_dashboard(self, request: Request) -> Response:
        dashboard = request.body["dashboard"]
        uid = dashboard["uid"]
        old = self.state.dashboards.get(uid)
        if old is not None and not request.body.get("overwrite"):
            return 412, {"message": "A dashboard with the same uid already exists",
                         "status": "name-exists"}  # fmt: skip
        version = 1 if old is None else old["version"] + 1
        slug = re.sub(r"[^a-z0-9]+", "-", dashboard["title"].lower()).strip("-")
        self.state.dashboards[uid] = {
            "dashboard": dashboard, "folderUid": request.body.get("folderUid"), "version": version
        }  # fmt: skip
        saved = {"uid": uid, "slug": slug, "version": version, "url": f"/d/{uid}/{slug}"}
        return 200, {
            **fixture("dashboard_saved"),
            **saved,
            "folderUid": request.body.get("folderUid"),
        }

    def _list_contact_points(self, request: Request) -> Response:
        name = request.query.get("name", [None])[0]
        points = [p for p in self.state.contact_points.values() if name in (None, p["name"])]
        return 200, points

    def _create_contact_point(self, request: Request) -> Response:
        point = {**fixture("contact_point"), **request.body}
        self.state.contact_points[point["uid"]] = point
        return 202, point

    def _update_contact_point(self, request: Request, uid: str) -> Response:
        if uid not in self.state.contact_points:
            return 404, {"message": "contact point not found"}
        self.state.contact_points[uid] = {**fixture("contact_point"), **request.body}
        return 202, {"message": "contactpoint updated"}

    def _get_rule(self, _: Request, uid: str) -> Response:
        if uid not in self.state.rules:
            return 404, None  # Grafana answers a missing rule with an empty body
        return 200, self.state.rules[uid]

    def _create_rule(self, request: Request) -> Response:
        uid = request.body["uid"]
        if uid in self.state.rules:
            return 409, {"message": "a rule with this UID already exists"}
        self.state.rules[uid] = {**fixture("alert_rule"), **request.body}
        return 201, self.state.rules[uid]

    def _update_rule(self, request: Request, uid: str) -> Response:
        if uid not in self.state.rules:
            return 404, None
        self.state.rules[uid] = {**fixture("alert_rule"), **request.body}
        return 200, self.state.rules[uid]

    def _set_policy(self, request: Request) -> Response:
        self.state.policy = {**request.body, "provenance": ""}
        return 202, fixture("policies_updated")


def _handler(grafana: FakeGrafana) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            request = Request(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query),
                body=json.loads(raw) if raw else None,
                headers={k.lower(): v for k, v in self.headers.items()},
            )
            status, body = grafana.answer(request)
            payload = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
