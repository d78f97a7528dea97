"""The publisher: a real strict MkDocs build of generated reviews, offline, and hostile text kept literal."""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest

from hub.reviews.markdown import dump_front_matter
from hub.reviews.publish import render
from hub.reviews.publish.build import SiteBuildError, build_site
from hub.reviews.publish.site import CONFIG, publish_site
from hub.testing.fakes.base import loopback_only
from tests.review_factory import a_few_reviews, published_review
from tests.web_kit import sign_in

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TICKET = "https://tickets.example/browse/OPS-7?from=(review)|x&y=1"
THEME_LINKS = {"https://squidfunk.github.io/mkdocs-material/"}  # "Made with Material"
THEME_FORMS = {"md-search__form", "md-header__option"}  # search box, colour palette
# every line is one hostile piece; each must come out as the same literal text
CORPUS = [
    '<script>alert("xss")</script>',
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(2)><circle r=1 /></svg>",
    '<a href="javascript:alert(3)">click</a>',
    "[click me](javascript:alert(4))",
    "![image](javascript:alert(5))",
    "[ref link][evil]",
    "[evil]: javascript:alert(6)",
    "<javascript:alert(7)> <https://evil.example/autolink>",
    "https://evil.example/bare and www.evil.example",
    '{: onclick="alert(8)" } and text {: .cls #id onmouseover=alert(9) }',
    '--8<-- "/etc/passwd"',
    ';--8<-- "mkdocs.yml"',
    "{{ config.site_name }} {% include 'base.html' %} {# comment #} ${{ 7*7 }}",
    "---",
    "title: pwned",
    "...",
    "key: [unclosed, {brace: ",
    "<!-- material/tags -->",
    "[TOC]",
    '!!! danger "admonition"',
    "| a | b |",
    "|---|---|",
    "```python",
    "`code` **bold** __under__ ~~strike~~ ==mark== ^^ins^^",
    '<div markdown="1">*inside*</div>',
    '<iframe src="https://evil.example"></iframe><style>body{display:none}</style>',
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "&lt;script&gt; already-escaped &amp; &#60;b&#62; &#x3C;i&#x3E;",
    "\\<script\\> back\\slashes \\\\ \\[x\\]",
    "# not a heading",
    "1. not a list",
    "Setext underline next",
    "===",
    "مرحبا بالعالم — שלום עולם — right-to-left",
    "emoji 🔥💥🚒 👩‍💻 🏳️‍🌈",
    "%3Cscript%3Ealert(10)%3C/script%3E",
    "> blockquote",
    "    four-space indented code",
    "+ plus item",
    "* star item",
    "***",
    "___",
    "- - -",
    "#hashtag",
    "2024) numbered",
    "trailing hard break  ",
]
TITLE = (
    '<script>alert("title")</script> {{ 7*7 }} "--- ..." \'q\' & <img src=x onerror=alert(11)> '
    "إنقطاع الخدمة 🔥 " + "very long title " * 12
)[:300]


def _literal(text: str) -> str:
    return " ".join(render._INVISIBLE.sub("", text).split())


@pytest.fixture(scope="module")
def site(tmp_path_factory, example_policy):
    """A hub with a few ordinary reviews and one hostile one, published once (strict, offline)."""
    from hub.app.context import Hub
    from hub.app.migrate import upgrade
    from hub.app.settings import load_settings

    data = tmp_path_factory.mktemp("kb") / "var"
    settings = load_settings(
        overrides={"HUB_DATA_DIR": str(data), "HUB_DATABASE_URL": f"sqlite:///{data / 'hub.db'}"}
    )
    upgrade(settings.database_url)
    hub = Hub(settings, policy=example_policy)
    refs = a_few_reviews(hub, 6)
    text = "\n\n".join(CORPUS)
    with hub.db.session() as session:
        evil = published_review(
            session,
            hub.policy,
            7,
            title=TITLE,
            tags=("security",),
            texts={
                f: text
                for f in (
                    "summary",
                    "impact",
                    "root_causes",
                    "trigger",
                    "detection",
                    "resolution",
                    "went_well",
                    "lessons",
                )
            },
            items=[(line[:300], line[:120], None, "open") for line in CORPUS[:6]],
            timeline=[(n, "update", line) for n, line in enumerate(CORPUS)],
        )
        evil.action_items[0].ticket = TICKET
        refs.append(evil.incident.ref)
    with loopback_only():
        counts, built = publish_site(hub, now=NOW)
    yield {
        "hub": hub,
        "refs": refs,
        "evil": refs[-1],
        "root": built.site.resolve(),
        "counts": counts,
        "built": built,
    }
    hub.db.dispose()


def _page(root: Path, url: str) -> Path:
    path = root / unquote(url.split("#")[0].split("?")[0])
    return path / "index.html" if path.is_dir() or not path.suffix else path


class Page(HTMLParser):
    """Every element with its attributes, and the text, of one HTML file."""

    def __init__(self, path: Path):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict, bool]] = []  # (tag, attrs, inside <article>)
        self.text: list[str] = []
        self.article_text: list[str] = []
        self.scripts: list[str] = []
        self._depth, self._script, self._title = 0, False, False
        self.title = ""
        self.feed(path.read_text(encoding="utf-8"))

    def handle_starttag(self, tag, attrs):
        inside = self._depth > 0
        if tag == "article":
            self._depth += 1
        self.elements.append((tag, dict(attrs), inside))
        self._script = tag == "script"
        self._title = tag == "title"

    def handle_endtag(self, tag):
        if tag == "article":
            self._depth -= 1
        self._script = self._title = False

    def handle_data(self, data):
        if self._script:
            self.scripts.append(data)
        elif self._title:
            self.title += data
        else:
            self.text.append(data)
            if self._depth:
                self.article_text.append(data)


def _html_pages(root: Path) -> list[Path]:
    return sorted(root.rglob("*.html"))


def test_pages_index_pages_and_charts_exist(site):
    root, refs = site["root"], site["refs"]
    assert site["counts"] == {"reviews": 7, "rendered": 7, "open_items": 12}
    for url in [
        "",
        "writing-reviews/",
        "browse/services/",
        "browse/service/payroll/",
        "browse/service/erp/",
        "browse/severities/",
        "browse/severity/SEV1/",
        "browse/severity/SEV2/",
        "browse/months/",
        "browse/month/2026-03/",
        "browse/month/2026-05/",
        "action-items/",
        "metrics/",
        "tags/",
        "404.html",
        "charts/mtta.svg",
        "charts/mttr.svg",
        "search/search_index.json",
        "tags.json",
    ]:
        assert _page(root, url).is_file(), url
    for ref in refs:
        assert _page(root, f"reviews/{ref}/").is_file()
        svg = ET.parse(root / "reviews" / f"{ref}-timeline.svg").getroot()
        assert svg.tag.endswith("svg") and svg.findall(".//{http://www.w3.org/2000/svg}circle")
    for chart in ("mtta", "mttr"):
        svg = ET.parse(root / "charts" / f"{chart}.svg").getroot()
        assert svg.findall(".//{http://www.w3.org/2000/svg}polyline")
    metrics = Page(_page(root, "metrics/"))
    assert {a["src"] for t, a, _i in metrics.elements if t == "img"} == {
        "../charts/mtta.svg",
        "../charts/mttr.svg",
    }


def test_every_internal_link_resolves(site):
    root = site["root"]
    checked = 0
    for path in _html_pages(root):
        url = path.relative_to(root).as_posix()
        base = "/" + (url[: -len("index.html")] if url.endswith("index.html") else url)
        for tag, attrs, _inside in Page(path).elements:
            for key in ("href", "src"):
                link = attrs.get(key)
                if not link or link.startswith("#") or urlsplit(link).scheme:
                    continue
                target = urljoin(base, link)
                assert _page(root, target.lstrip("/")).exists(), f"{url}: {tag} {key}={link}"
                checked += 1
    assert checked > 200


def test_reviews_stay_out_of_the_navigation_and_index_pages_list_them(site):
    root, refs = site["root"], site["refs"]
    nav_only = Page(_page(root, "writing-reviews/"))
    assert not [a for t, a, _i in nav_only.elements if "reviews/INC-" in a.get("href", "")]
    home = Page(_page(root, ""))
    linked = {a["href"] for t, a, inside in home.elements if inside and t == "a"}
    assert {f"reviews/{ref}/" for ref in refs} <= linked
    payroll = Page(_page(root, "browse/service/payroll/"))
    assert {a["href"] for t, a, i in payroll.elements if i and "reviews/" in a.get("href", "")} == {
        f"../../../reviews/{ref}/" for ref in refs[0:6:2] + [site["evil"]]
    }


def test_search_index_is_complete_and_small(site):
    root, refs = site["root"], site["refs"]
    docs = json.loads((root / "search" / "search_index.json").read_text())["docs"]
    locations = {d["location"] for d in docs}
    for ref in refs[:-1]:
        assert f"reviews/{ref}/" in locations and f"reviews/{ref}/#summary" in locations
        size = sum(len(json.dumps(d)) for d in docs if d["location"].startswith(f"reviews/{ref}/"))
        assert size < 3 * 1024, f"{ref}: {size} bytes in the search index"
    assert not [
        loc
        for loc in locations
        if loc.startswith(("browse/", "tags/", "metrics/", "action-items/"))
    ]
    assert not [d for d in docs if "Reported:" in d["text"]], "the timeline table is excluded"


def test_tags_link_to_the_tag_index(site):
    root, refs = site["root"], site["refs"]
    page = Page(_page(root, f"reviews/{refs[1]}/"))
    tags = {a["href"] for t, a, _i in page.elements if t == "a" and "md-tag" in a.get("class", "")}
    assert tags == {f"../../tags/#tag:{t}" for t in ("sev2", "erp", "email", "network", "change")}
    index = Page(_page(root, "tags/"))
    ids = {a.get("id") for _t, a, _i in index.elements}
    assert {"tag:sev1", "tag:payroll", "tag:software", "tag:security"} <= ids
    mappings = json.loads((root / "tags.json").read_text())["mappings"]
    assert len(mappings) == len(refs)


def test_hostile_review_text_stays_literal_text(site):
    root, evil = site["root"], site["evil"]
    page = Page(_page(root, f"reviews/{evil}/"))
    text = _literal(" ".join(page.article_text))
    for line in CORPUS:
        assert _literal(render._BULLET.sub("", line)) in text, line  # bullets are documented
    assert page.title == f"{evil}: {_literal(TITLE)} - Post-incident reviews"
    # the only elements in the review's article are the ones the template writes
    allowed = {
        "a",
        "h1",
        "h2",
        "p",
        "ul",
        "li",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "img",
        "hr",
        "br",
        "nav",
        "span",
        "strong",
    }
    article = [(t, a) for t, a, inside in page.elements if inside]
    assert {t for t, _a in article} <= allowed
    assert sum(t == "img" for t, _a in article) == 1  # the timeline chart
    assert sum(t == "ul" for t, _a in article) == 8 * 2  # `* ` and `- - -` lines are bullets
    links = {a["href"] for t, a in article if t == "a"}
    assert TICKET.replace("|", "%7C") in links
    assert not {x for x in links if urlsplit(x).scheme} - {TICKET.replace("|", "%7C")}


def test_no_page_carries_markup_or_urls_from_user_text(site):
    root = site["root"]
    allowed_urls = THEME_LINKS | {TICKET.replace("|", "%7C")}
    for path in _html_pages(root):
        page = Page(path)
        for tag, attrs, _inside in page.elements:
            assert tag not in {"iframe", "object", "embed", "base", "style"}, (path, tag)
            assert tag != "form" or attrs.get("class") in THEME_FORMS, (path, attrs)
            for name, value in attrs.items():
                assert not name.startswith("on"), (path, tag, name)
                assert name not in {"markdown", "onclick", "style"} or tag == "svg", (path, name)
                if name in ("href", "src", "action", "srcset", "xlink:href") and value:
                    lowered = re.sub(r"\s", "", value).lower()
                    assert not lowered.startswith(("javascript:", "data:", "vbscript:")), (
                        path,
                        value,
                    )
                    if urlsplit(value).scheme or value.startswith("//"):
                        assert value in allowed_urls, (path, value)
        for script in page.scripts:
            assert not re.search(r"alert|evil|onerror|passwd", script), path
    for svg in root.rglob("*.svg"):
        if "assets" in svg.parts:
            continue
        tree = ET.parse(svg).getroot()
        for element in tree.iter():
            assert element.tag.rsplit("}", 1)[-1] not in {"script", "foreignObject", "a"}
            assert not [k for k in element.attrib if k.lower().startswith("on")]


def test_search_index_and_tags_export_hold_escaped_text_only(site):
    root = site["root"]
    for name in ("search/search_index.json", "tags.json"):
        raw = json.loads((root / name).read_text())
        blob = json.dumps(raw, ensure_ascii=False)
        for needle in ("<script", "<img", "<svg", "<iframe", "<a href", "<style", "<div"):
            assert needle not in blob, (name, needle)


def test_unchanged_reviews_are_not_rendered_again(site):
    with loopback_only():
        counts, _built = publish_site(site["hub"], now=NOW)
    assert counts["rendered"] == 0 and counts["reviews"] == 7


def test_a_failed_build_is_an_ordinary_error_and_the_live_site_stays(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Home\n\n[broken](missing.md)\n")
    (docs / "writing-reviews.md").write_text("# How\n")
    live = tmp_path / "kb" / "site"
    with pytest.raises(SiteBuildError, match="missing.md"):
        build_site(CONFIG, docs, live)
    assert not live.exists() and not list((tmp_path / "kb" / "builds").iterdir())
    (docs / "index.md").write_text("# Home\n")
    first = build_site(CONFIG, docs, live).build_dir
    (docs / "index.md").write_text("# Home\n\n[broken](missing.md)\n")
    try:
        build_site(CONFIG, docs, live)
    except SystemExit:  # pragma: no cover - what must never happen
        pytest.fail("MkDocs' Abort escaped as SystemExit")
    except SiteBuildError:
        pass
    assert live.resolve() == first.resolve()
    (docs / "index.md").write_text("# Home again\n")
    for _ in range(2):  # with `first`, three good builds: the oldest is retired
        built = build_site(CONFIG, docs, live)
        if built.cleaner:
            built.cleaner.join()
    assert live.resolve() == built.build_dir.resolve() and os.path.islink(live)
    assert len(list((tmp_path / "kb" / "builds").iterdir())) == 2  # live + previous


def test_the_hand_written_pages_build_alone_with_the_repository_config(tmp_path):
    from hub.reviews.publish.site import HANDWRITTEN

    with loopback_only():
        built = build_site(CONFIG, HANDWRITTEN, tmp_path / "site")
    assert (built.site / "writing-reviews" / "index.html").is_file() and built.pages == 2


def test_a_tag_outside_the_allowed_list_fails_the_build(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text(dump_front_matter({"tags": ["nope"]}) + "# Home\n")
    (docs / "writing-reviews.md").write_text("# How\n")
    with pytest.raises(SiteBuildError):
        build_site(CONFIG, docs, tmp_path / "site", tags_allowed=["network"])


def test_kb_route_serves_the_site_and_refuses_traversal(site):
    from hub import create_app

    client = create_app({"TESTING": True}, hub=site["hub"]).test_client()
    sign_in(client, site["hub"], "anna")  # the knowledge base is for signed-in readers
    evil = site["evil"]

    def get(url):
        with client.get(url, follow_redirects=url.startswith("/kb//")) as response:
            return response.status_code, response.mimetype, response.headers.get("Location")

    assert get("/kb/")[:2] == (200, "text/html")
    assert get(f"/kb/reviews/{evil}/")[:2] == (200, "text/html")
    assert get(f"/kb/reviews/{evil}") == (301, "text/html", f"/kb/reviews/{evil}/")
    assert get("/kb/reviews/INC-1-timeline.svg")[:2] == (200, "image/svg+xml")
    for bad in (
        "/kb/../hub.db",
        "/kb/%2e%2e/hub.db",
        "/kb/..%2fhub.db",
        "/kb//etc/passwd",
        "/kb/reviews/../../src/manifest.json",
        "/kb/nope/",
    ):
        assert get(bad)[0] == 404, bad


@pytest.mark.parametrize("raw", CORPUS + [TITLE])
def test_md_inline_leaves_nothing_for_markdown_or_html(raw):
    import markdown

    out = markdown.markdown(str(render.md_inline(raw)), extensions=["tables", "toc", "admonition"])
    parser = HTMLParser(convert_charrefs=True)
    tags: list[str] = []
    data: list[str] = []
    parser.handle_starttag = lambda tag, attrs: tags.append(tag)
    parser.handle_data = data.append
    parser.feed(out)
    assert tags == ["p"], out
    assert "".join(data) == _literal(raw)


def test_front_matter_survives_yaml_breaking_text():
    import yaml

    title = "--- \n...\n---\nkey: value: [x\n# comment\n'\"&*alias !!python/object"
    block = dump_front_matter({"title": render.page_title(title), "tags": ["a"]})
    inner = block.removeprefix("---\n").removesuffix("---\n")
    assert yaml.safe_load(inner) == {"title": render.page_title(title), "tags": ["a"]}
    assert "\n---\n" not in inner and "\n...\n" not in "\n" + inner


def test_metrics_page_counts_open_and_overdue_action_items(example_policy):
    from datetime import date

    from hub.reviews.publish.pages import index_pages

    items = [
        {
            "title": t,
            "owner": "Elif",
            "due": d,
            "priority": "P2",
            "status": "open",
            "overdue": o,
            "ref": "INC-1",
        }
        for t, d, o in (
            ("a", "2026-01-01", True),
            ("b", "2026-01-02", True),
            ("c", "2027-01-01", False),
        )
    ]
    pages = index_pages([], items, example_policy, "", date(2026, 6, 1))
    assert "3 open action items, of which **2 overdue**" in pages["metrics.md"]
    assert (
        "0 open action items, of which **0 overdue**"
        in index_pages([], [], example_policy, "", date(2026, 6, 1))["metrics.md"]
    )
