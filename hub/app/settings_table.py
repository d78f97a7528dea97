"""The table of settings: name, default, help, and what a value must look like.

It is the only place a default is written: `Settings` (hub/app/settings.py) reads through it,
`mihub config` prints it and the README's settings table is generated from it. The closed
sets of values (choices, URL schemes) live here too, so that the start-up checks
(hub/app/settings_checks.py) need nothing from the modules that use the values.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    """One setting: its name, its default (None: unset) and its help line."""

    name: str
    default: str | None
    help: str
    secret: bool = False
    choices: tuple[str, ...] = ()  # a closed set of values (matched ignoring case)
    # What a value must look like, checked at start-up (see check_settings): "whole" (a whole
    # number of at least `minimum`, default 0), "number" (above 0, at least `minimum`),
    # "duration" (like 15m, longer than 0), "hostport" (host:port, port 1-65535) or "http"
    # (an http:// or https:// URL with a host). "" : free text, or checked on its own.
    kind: str = ""
    minimum: float | None = None
    # A URL setting's closed set of schemes (in the order the start-up error names them), and
    # an example of a good value for that error.
    schemes: tuple[str, ...] = ()
    example: str = ""


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "HUB_DATA_DIR", "./var", "Where the embedded database, queue, sinks and built site live."
    ),
    Setting(
        "HUB_DATABASE_URL",
        None,
        "SQLAlchemy URL of the database; default SQLite `hub.db` in the data dir. "
        "Scale-out: `postgresql+psycopg://user@host/db`.",
    ),
    Setting(
        "HUB_QUEUE_URL",
        None,
        "Huey queue; default SQLite `queue.db` in the data dir. Scale-out: `redis://host:6379/0`.",
    ),
    Setting(
        "HUB_POLICY", "./policy.yaml", "The policy file (people, services, severities, rules)."
    ),
    Setting(
        "HUB_SECRET_KEY",
        None,
        "Signs sessions, reply tokens and Message-IDs. Required outside development.",
        secret=True,
    ),
    Setting(
        "HUB_HTTP",
        "127.0.0.1:8080",
        "Address the web server listens on (`host:port`).",
        kind="hostport",
    ),
    Setting(
        "HUB_WEB_WORKERS",
        "0",
        "Processes of the production WSGI server (gunicorn); 0: two per CPU, at most 8.",
        kind="whole",
    ),
    Setting(
        "HUB_WEB_THREADS",
        "128",
        "Threads of each web process; each open live page (event stream) holds one, 16 stay for pages.",
        kind="whole",
    ),
    Setting(
        "HUB_SMTP_LISTEN", "127.0.0.1:2525", "Address of the SMTP intake listener.", kind="hostport"
    ),
    Setting(
        "HUB_BASE_URL",
        None,
        "The hub's public address for links in mail and cards; default from HUB_HTTP.",
        kind="http",
    ),
    Setting(
        "HUB_MAIL_TRANSPORT",
        "sink",
        "`smtp`, `graph` or `sink` (local files under the data dir, viewable in the console).",
        choices=("smtp", "graph", "sink"),
    ),
    Setting(
        "HUB_SMTP_URL",
        None,
        "Outgoing SMTP server: `smtp://host:25`, `smtp+starttls://user:pass@host:587`, "
        "`smtps://user:pass@host:465`.",
        secret=True,
        schemes=("smtp", "smtp+starttls", "smtps"),
        example="smtp://mail.example.com:25",
    ),
    Setting(
        "HUB_MAIL_FROM",
        "Major Incident Hub <incidents@localhost>",
        "From address of outgoing mail.",
    ),
    Setting("HUB_GRAPH_TENANT_ID", None, "Microsoft Entra tenant id (Graph mail, bot, sign-in)."),
    Setting("HUB_GRAPH_CLIENT_ID", None, "App registration (client) id."),
    Setting("HUB_GRAPH_CLIENT_SECRET", None, "App registration client secret.", secret=True),
    Setting(
        "HUB_GRAPH_MAILBOX", None, "Mailbox (UPN) the hub sends from and reads intake mail from."
    ),
    Setting(
        "HUB_GRAPH_ORGANIZER",
        None,
        "Mailbox (UPN) that organises each major incident's Teams bridge and review meeting "
        "(Graph Calendars.ReadWrite); unset: the policy's static bridge link.",
    ),
    Setting(
        "HUB_TEAMS_OUTGOING_SECRET",
        None,
        "Security token shown when the Teams outgoing webhook was created (base64).",
        secret=True,
    ),
    Setting(
        "HUB_TEAMS_TRANSPORT",
        "auto",
        "`webhook` (post to Workflows webhooks), `sink` (local files), or `auto`: "
        "sink when no webhook is configured.",
        choices=("webhook", "sink", "auto"),
    ),
    Setting(
        "HUB_AUTHORITY_HOST",
        "https://login.microsoftonline.com",
        "Microsoft identity platform host (override for local fakes).",
        kind="http",
    ),
    Setting(
        "HUB_GRAPH_API",
        "https://graph.microsoft.com/v1.0",
        "Microsoft Graph base URL.",
        kind="http",
    ),
    Setting(
        "HUB_BOT_API",
        "https://smba.trafficmanager.net/teams",
        "Bot Framework connector base URL.",
        kind="http",
    ),
    Setting(
        "HUB_MAX_BODY_BYTES",
        "1048576",
        "Largest accepted API request body (bytes, at least 1024); larger gets 413.",
        kind="whole",
        minimum=1024,
    ),
    Setting(
        "HUB_LOG_LEVEL",
        "INFO",
        "Python log level: `DEBUG`, `INFO`, `WARNING`, `ERROR` or `CRITICAL`.",
        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
    ),
    Setting(
        "HUB_ENV",
        "development",
        "`development` or `production`; production refuses to start with unsafe settings "
        "(see *Production checks*).",
        choices=("development", "production"),
    ),
    Setting(
        "HUB_GRAPH_MAIL_FORMAT",
        "mime",
        "How Graph sendMail gets each message: `mime` keeps Message-ID, In-Reply-To, References "
        "and Auto-Submitted (threading); `json` keeps only X- headers but can skip Sent Items.",
        choices=("mime", "json"),
    ),
    Setting(
        "HUB_SMTP_CONNECTIONS",
        "8",
        "Most SMTP connections one process keeps open to HUB_SMTP_URL (reused across sends).",
        kind="whole",
        minimum=1,
    ),
    Setting(
        "HUB_SIGNIN",
        "auto",
        "How people sign in to the web console: `entra` (Microsoft Entra ID, needs "
        "HUB_GRAPH_TENANT_ID, HUB_GRAPH_CLIENT_ID and HUB_GRAPH_CLIENT_SECRET), `link` (a "
        "one-time link mailed to the person), `entra,link`, or `auto`: entra when a tenant "
        "is configured, else link.",
    ),
    Setting(
        "HUB_SESSION_LIFETIME",
        "12h",
        "How long a web console sign-in lasts (e.g. 8h, 12h, 2d); then sign in again.",
        kind="duration",
    ),
    Setting(
        "HUB_SIGNIN_LINK_LIFETIME",
        "15m",
        "How long a mailed one-time sign-in link stays valid; each link works once.",
        kind="duration",
    ),
    Setting(
        "HUB_MAIL_TRUSTED_AUTHSERV_IDS",
        None,
        "Comma-separated authserv-ids (your mail gateway's, e.g. `mx.example.com`) whose "
        "Authentication-Results headers are believed: DMARC fail is quarantined, pass verifies "
        "the sender. Unset: no such header is believed and the allowlist alone decides.",
    ),
    Setting(
        "HUB_MAIL_MAX_HEADER_BYTES",
        "65536",
        "Largest header block of inbound mail (bytes, at least 1024); larger messages are "
        "refused unparsed.",
        kind="whole",
        minimum=1024,
    ),
    Setting(
        "HUB_MAIL_MAX_PARTS",
        "100",
        "Most MIME parts of inbound mail; more are refused.",
        kind="whole",
        minimum=1,
    ),
    Setting(
        "HUB_MAIL_MAX_DEPTH",
        "10",
        "Deepest MIME nesting of inbound mail; deeper is refused.",
        kind="whole",
        minimum=1,
    ),
    Setting(
        "HUB_IMAP_URL",
        None,
        "Intake mailbox for `mihub mailbox` over IMAP: `imaps://user:pass@host:993/INBOX` "
        "(or `imap://…` with STARTTLS, `imap+plain://…` for a local test server).",
        secret=True,
        schemes=("imaps", "imap", "imap+plain"),
        example="imaps://user:pass@mail.example.com:993/INBOX",
    ),
    Setting(
        "HUB_MAILBOX_SOURCE",
        None,
        "`imap` or `graph` (delta query on HUB_GRAPH_MAILBOX's inbox); default: imap when "
        "HUB_IMAP_URL is set, else graph.",
        choices=("imap", "graph"),
    ),
    Setting(
        "HUB_MAILBOX_POLL_SECONDS",
        "30",
        "Seconds between two polls of the intake mailbox.",
        kind="whole",
        minimum=1,
    ),
    Setting(
        "HUB_BOT_APP_ID",
        None,
        "Microsoft App ID of the Teams bot: the audience of Bot Framework tokens at "
        "/intake/bot and the bot of the Teams app package. Unset: /intake/bot answers 503.",
    ),
    Setting(
        "HUB_BOT_OPENID_METADATA",
        "https://login.botframework.com/v1/.well-known/openidconfiguration",
        "OpenID metadata of the Bot Framework token issuer (its signing keys); override "
        "for a local fake.",
        kind="http",
    ),
    Setting(
        "HUB_TEAMS_WEBHOOK_RATE",
        "4",
        "Most requests per second to one Teams Workflows webhook (Teams throttles above 4).",
        kind="number",
    ),
    Setting(
        "HUB_TEAMS_BOT_RATE",
        "4",
        "Most bot messages per second to one Teams conversation.",
        kind="number",
    ),
    Setting(
        "HUB_GRAPH_SEND_PER_MINUTE",
        "30",
        "Most Graph sendMail messages per minute per mailbox (Exchange's limit is 30).",
        kind="number",
    ),
    Setting(
        "HUB_RETRY_BASE",
        "15",
        "Seconds before the first retry of a failed delivery; doubles each attempt up to 30 "
        "minutes (a provider's Retry-After wins).",
        kind="number",
    ),
    Setting(
        "HUB_DELIVERY_LEASE",
        "15",
        "Seconds a worker's claim on a notification it is sending lasts; a live worker renews "
        "it every third of that, so a dead worker's rows return to the queue within it.",
        kind="number",
        minimum=6,
    ),
    Setting(
        "HUB_ALERTS_RATE",
        "100",
        "Most alert notifications per second from one monitoring source (per web process; "
        "above it 429 with Retry-After); 0 turns the limit off.",
        kind="whole",
    ),
    Setting(
        "HUB_ALERTS_MAX_BYTES",
        "1048576",
        "Largest accepted monitoring alert notification (bytes, at least 1024); larger gets 413.",
        kind="whole",
        minimum=1024,
    ),
    Setting(
        "HUB_KB_ACCESS",
        "signed-in",
        "Who may read the knowledge base at /kb/: `signed-in` (people of the policy, signed in "
        "to the console) or `public` (anyone who reaches it; reviews of security incidents are "
        "then left out unless tagged `public`).",
        choices=("signed-in", "public"),
    ),
    Setting(
        "HUB_METRICS_TOKEN",
        None,
        "When set, /metrics answers only `Authorization: Bearer <this token>` (Prometheus "
        "`authorization: {credentials: …}`); unset: anyone who reaches it.",
        secret=True,
    ),
    Setting(
        "HUB_SMTP_TLS_CERT",
        None,
        "PEM certificate chain the SMTP intake listener offers with STARTTLS (with "
        "HUB_SMTP_TLS_KEY); unset: no STARTTLS.",
    ),
    Setting("HUB_SMTP_TLS_KEY", None, "PEM private key of HUB_SMTP_TLS_CERT (keep it mode 600)."),
    Setting(
        "HUB_AUDIT_RETENTION",
        "365d",
        "How long audit log records are kept (e.g. 365d, 730d); older ones are deleted.",
        kind="duration",
    ),
    Setting(
        "HUB_TICKET_WEBHOOK_URL",
        None,
        "Where an action item exported to a ticket system is POSTed (JSON); unset: no export.",
        kind="http",
    ),
    Setting(
        "HUB_TICKET_WEBHOOK_SECRET",
        None,
        "HMAC-SHA256 key of the export's `X-Mihub-Signature` (shared with the ticket system).",
        secret=True,
    ),
    Setting(
        "HUB_SUBSCRIBE_CONFIRM_LIFETIME",
        "2d",
        "How long the confirm link mailed for an email subscription stays valid.",
        kind="duration",
    ),
    Setting(
        "HUB_GROUP_REFRESH",
        "1d",
        "How old the cached members of an audience's Entra group may be before Graph is asked "
        "again.",
        kind="duration",
    ),
    Setting(
        "HUB_STATUS_PUBLIC",
        "false",
        "`true`: the status page is served at /status without sign-in, showing only services "
        "marked `public` in the policy and the public text of updates and maintenance "
        "(signed-in staff still see the internal page); `false`: signed-in staff only.",
        choices=("true", "false"),
    ),
    Setting(
        "HUB_SMTP_MAX_CONNECTIONS",
        "200",
        "Most SMTP sessions the intake listener keeps open; past it a new connection is "
        "answered `421 4.3.2` and closed (the sender retries). Keep it below `ulimit -n`.",
        kind="whole",
        minimum=1,
    ),
    Setting(
        "HUB_SMTP_MAX_CONNECTIONS_PER_CLIENT",
        "50",
        "Most SMTP sessions open from one client address; past it `421 4.7.0`.",
        kind="whole",
        minimum=1,
    ),
    Setting(
        "HUB_LOG_REPEAT_INTERVAL",
        "1m",
        "A warning or error that repeats (an outage, the SMTP listener at its descriptor "
        "limit) is logged once per this interval, with a count of the ones left out.",
        kind="duration",
    ),
    Setting(
        "HUB_GRAPH_BCC_BATCH",
        "500",
        "Graph: an audience's email addresses per message, in BCC (Exchange Online takes 500 "
        "recipients a message unless raised, to 1000); 1: one message per address.",
        kind="whole",
        minimum=1,
    ),
    Setting(
        "HUB_SMTP_BATCH",
        "1",
        "SMTP: an audience's email addresses per message (one envelope, many RCPT TO); 1 (the "
        "default): one message per address, each with its own reply token and bounce address.",
        kind="whole",
        minimum=1,
    ),
)


BY_NAME = {s.name: s for s in SETTINGS}
