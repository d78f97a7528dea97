"""Entra groups for the fake Microsoft 365 (mixed into FakeMicrosoft), as Graph v1.0 shapes them.

`GET /v1.0/groups/{id}` answers the group (`id`, `displayName`, `mail`, `mailEnabled`);
`GET /v1.0/groups?$filter=mail eq '…'` a `value` list; `GET /v1.0/groups/{id}/transitiveMembers`
a flat `value` list of directoryObjects, each with its `@odata.type` (`#microsoft.graph.user`,
`#microsoft.graph.group` for nested groups, `#microsoft.graph.device`, …), in pages of `$top`
(default 100, at most 999) linked by `@odata.nextLink` with a `$skiptoken`, as the documented
"List group transitive members" answers. Unknown group: 404 `Request_ResourceNotFound`.

Tests: `fake.add_group("<guid>", "ops@example.com", members=[user(...), "<nested guid>"])`,
`fake.group_requests` (every groups call, in order).
"""

from __future__ import annotations

import re
import threading
import uuid

from hub.testing.fakes.base import Request, Response, Route

DEFAULT_PAGE, MAX_PAGE = 100, 999


def user(email: str, name: str | None = None, *, mail: bool = True) -> dict:
    """A user member: `mail` set (or only a userPrincipalName when `mail=False`)."""
    return {
        "@odata.type": "#microsoft.graph.user",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"user:{email.lower()}")),
        "displayName": name or email.split("@")[0],
        "mail": email if mail else None,
        "userPrincipalName": email,
    }


def _error(status: int, code: str, message: str) -> Response:
    return Response(status, {"error": {"code": code, "message": message}})


class GroupsMixin:
    """Groups by id: `fake.groups[id] = {"id", "displayName", "mail", "members": [...]}`."""

    def setup_groups(self) -> None:
        self.groups: dict[str, dict] = {}
        self.group_requests: list[str] = []
        self._groups_lock = threading.Lock()

    def groups_routes(self) -> list[Route]:
        return [
            ("GET", r"/v1\.0/groups", self.list_groups),
            ("GET", r"/v1\.0/groups/(?P<ident>[^/]+)", self.get_group),
            ("GET", r"/v1\.0/groups/(?P<ident>[^/]+)/transitiveMembers", self.transitive_members),
        ]

    def add_group(self, ident: str, mail: str | None, *, name: str = "", members=()) -> dict:
        """A group; `members` are user dicts (see `user`) or ids of other groups (nested)."""
        group = {
            "id": ident,
            "displayName": name or (mail or ident).split("@")[0],
            "mail": mail,
            "mailEnabled": bool(mail),
            "members": list(members),
        }
        with self._groups_lock:
            self.groups[ident.lower()] = group
        return group

    def _seen(self, request: Request) -> Response | None:
        with self._groups_lock:
            self.group_requests.append(request.path)
        if not self._authorised(request):
            return _error(401, "InvalidAuthenticationToken", "Access token is empty or invalid.")
        return None

    @staticmethod
    def _public(group: dict) -> dict:
        return {k: v for k, v in group.items() if k != "members"} | {
            "@odata.type": "#microsoft.graph.group"
        }

    def list_groups(self, request: Request) -> Response:
        refused = self._seen(request)
        if refused:
            return refused
        match = re.fullmatch(r"mail eq '(.*)'", request.query.get("$filter", ""))
        if not match:
            return _error(400, "Request_UnsupportedQuery", "Unsupported query.")
        wanted = match.group(1).replace("''", "'").lower()
        with self._groups_lock:
            found = [
                self._public(g) for g in self.groups.values() if (g["mail"] or "").lower() == wanted
            ]
        return Response(200, {"value": found})

    def get_group(self, request: Request, ident: str) -> Response:
        refused = self._seen(request)
        if refused:
            return refused
        with self._groups_lock:
            group = self.groups.get(ident.lower())
        if group is None:
            return _not_found(ident)
        return Response(200, self._public(group))

    def _flatten(self, group: dict, seen: set[str]) -> list[dict]:
        out = []
        for member in group["members"]:
            if isinstance(member, dict):
                out.append(member)
                continue
            nested = self.groups.get(member.lower())
            if nested is None or member.lower() in seen:
                continue
            seen.add(member.lower())
            out.append(self._public(nested))  # the nested group itself is listed too
            out += self._flatten(nested, seen)
        unique, ids = [], set()
        for item in out:
            if item["id"] not in ids:
                ids.add(item["id"])
                unique.append(item)
        return unique

    def transitive_members(self, request: Request, ident: str) -> Response:
        refused = self._seen(request)
        if refused:
            return refused
        with self._groups_lock:
            group = self.groups.get(ident.lower())
            members = None if group is None else self._flatten(group, {ident.lower()})
        if members is None:
            return _not_found(ident)
        try:
            size = min(MAX_PAGE, int(request.query.get("$top", DEFAULT_PAGE)))
            start = int(request.query.get("$skiptoken", 0))
        except ValueError:
            return _error(400, "Request_BadRequest", "Invalid $top or $skiptoken.")
        fields = request.query.get("$select")
        page = members[start : start + size]
        if fields:
            keep = {"@odata.type", *fields.split(",")}
            page = [{k: v for k, v in m.items() if k in keep} for m in page]
        doc = {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directoryObjects",
            "value": page,
        }
        if start + size < len(members):
            query = f"$top={size}&$skiptoken={start + size}"
            if fields:
                query += f"&$select={fields}"
            doc["@odata.nextLink"] = f"{self.url}/v1.0/groups/{ident}/transitiveMembers?{query}"
        return Response(200, doc)


def _not_found(ident: str) -> Response:
    return _error(
        404,
        "Request_ResourceNotFound",
        f"Resource '{ident}' does not exist or one of its "
        "queried reference-property objects are not present.",
    )
