"""Microsoft Graph groups: a group's mail address and its transitive members (application
permission GroupMember.Read.All).

`GET /groups/{id}` (or `GET /groups?$filter=mail eq '…'` for a group named by address) and
`GET /groups/{id}/transitiveMembers`, following `@odata.nextLink` page by page. Members that
are users or organisational contacts with a mail address (else a user's UPN) are kept; nested
groups are already flattened by Graph, and devices or service principals have no mailbox.
"""

from __future__ import annotations

import re
import threading
import uuid
from urllib.parse import quote, urlsplit

import requests

from hub.app.settings import Settings
from hub.channels.base import PermanentError, TransientError, graph_failure
from hub.channels.identity import TimeoutSession, get_token_source

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
MAILBOX_TYPES = ("#microsoft.graph.user", "#microsoft.graph.orgContact")
MAX_PAGES = 1000  # 999 members a page: a million members is far past any audience


class GraphGroups:
    """Look groups up and list their members; one per process (see `groups_client`)."""

    def __init__(self, settings: Settings, token_source=None, session=None):
        self.base = settings.text("HUB_GRAPH_API").rstrip("/")
        scope_host = urlsplit(self.base).hostname if self.base.startswith("https") else None
        self.scopes = [f"https://{scope_host or 'graph.microsoft.com'}/.default"]
        self.tokens = token_source or get_token_source(settings)
        self.session = session or TimeoutSession(15.0)

    def _get(self, url: str) -> dict:
        headers = {
            "Authorization": f"Bearer {self.tokens.token(self.scopes)}",
            "client-request-id": str(uuid.uuid4()),
            "ConsistencyLevel": "eventual",
        }
        try:
            response = self.session.get(url, headers=headers, timeout=15.0)
        except requests.RequestException as exc:
            raise TransientError(f"Graph groups unreachable: {type(exc).__name__}") from None
        if response.status_code == 200:
            return response.json()
        raise graph_failure(response, "GET groups", self.tokens)

    def find(self, ref: str) -> dict:
        """`{"id", "mail", "displayName"}` of the group with this object id or mail address."""
        select = "$select=id,mail,displayName"
        if GUID.match(ref):
            return self._get(f"{self.base}/groups/{quote(ref, safe='')}?{select}")
        value = ref.replace("'", "''")
        found = self._get(f"{self.base}/groups?$filter=mail eq '{quote(value, safe='@')}'&{select}")
        groups = found.get("value") or []
        if not groups:
            raise PermanentError(f"no Entra group has the address {ref}")
        return groups[0]

    def members(self, group_id: str) -> list[dict]:
        """Every transitive member with a mailbox: `{"id", "name", "email"}`, each once."""
        url = (
            f"{self.base}/groups/{quote(group_id, safe='')}/transitiveMembers"
            "?$select=id,displayName,mail,userPrincipalName&$top=999"
        )
        out, seen = [], set()
        for _ in range(MAX_PAGES):
            page = self._get(url)
            for item in page.get("value") or []:
                if item.get("@odata.type") not in MAILBOX_TYPES:
                    continue
                address = item.get("mail") or item.get("userPrincipalName")
                if not address or "@" not in address or address.lower() in seen:
                    continue
                seen.add(address.lower())
                out.append(
                    {"id": item.get("id"), "name": item.get("displayName"), "email": address}
                )
            url = page.get("@odata.nextLink")
            if not url:
                return out
        raise PermanentError(f"group {group_id} has more than {MAX_PAGES} pages of members")


_CLIENTS: dict[tuple, GraphGroups] = {}
_LOCK = threading.Lock()
NEEDED = ("HUB_GRAPH_TENANT_ID", "HUB_GRAPH_CLIENT_ID", "HUB_GRAPH_CLIENT_SECRET")


def groups_client(settings: Settings) -> GraphGroups | None:
    """The process's groups client; None unless the Graph app credentials are configured."""
    if not all((settings.text(name) or "").strip() for name in NEEDED):
        return None
    key = tuple(settings.text(name) for name in (*NEEDED, "HUB_GRAPH_API", "HUB_AUTHORITY_HOST"))
    with _LOCK:
        if key not in _CLIENTS:
            _CLIENTS[key] = GraphGroups(settings)
        return _CLIENTS[key]
