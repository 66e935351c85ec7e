"""HTML of the catalogue (/records): a search form, a page of records, one record; every value escaped."""

from __future__ import annotations

from html import escape
from typing import Any

STYLESHEET = "/static/records.css"
"""The pages' style (a file: the Content-Security-Policy allows no inline style)."""


def page(title: str, body: str) -> str:
    """A whole HTML document around ``body`` (already escaped)."""
    return (f'<!doctype html><html lang="zh"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="stylesheet" href="{STYLESHEET}"></head><body>{body}</body></html>')  # fmt: skip


def landing_page(title: str, links: list[dict[str, Any]]) -> str:
    """The landing page: the title and its links."""
    items = "".join(f'<li><a href="{escape(link["href"])}">{escape(link["title"])}</a></li>' for link in links)
    return page(title, f"<h1>{escape(title)}</h1><ul>{items}</ul>")


def search_page(collection: dict[str, Any], answer: dict[str, Any], query: dict[str, str]) -> str:
    """The catalogue's search form and one page of its records."""
    rows = "".join(_row(feature) for feature in answer["features"])
    paging = "".join(f'<a rel="{escape(link["rel"])}" href="{escape(link["href"])}">{escape(link["rel"])}</a> '
                     for link in answer["links"] if link["rel"] in ("prev", "next"))  # fmt: skip
    body = (f"<h1>{escape(collection['title'])}</h1><p>{escape(collection['description'])}</p>{_form(query)}"
            f"<p>{answer['numberReturned']} / {answer['numberMatched']}</p>"
            "<table><tr><th>标题 title</th><th>部门 department</th><th>类型 kind</th><th>更新 updated</th></tr>"
            f"{rows}</table><p>{paging}</p>")  # fmt: skip
    return page(collection["title"], body)


def _form(query: dict[str, str]) -> str:
    fields = "".join(f'<label>{escape(name)} <input name="{escape(name)}" value="{escape(query.get(name, ""))}"></label> '
                     for name in ("q", "bbox", "datetime", "department", "kind"))  # fmt: skip
    return f'<form method="get"><input type="hidden" name="f" value="html">{fields}<button>搜索 search</button></form>'


def _row(feature: dict[str, Any]) -> str:
    props = feature["properties"]
    department = props["department"]
    return (f'<tr><td><a href="items/{escape(feature["id"])}?f=html">{escape(props["title"])}</a><br>'
            f"{escape(props['title_en'] or '')}</td><td>{escape(department['name_zh'] or department['code'])}</td>"
            f"<td>{escape(props['kind'])}</td><td>{escape(props['updated'] or '')}</td></tr>")  # fmt: skip


def record_page(feature: dict[str, Any]) -> str:
    """One record: what it is, where and when, its fields and every link."""
    props = feature["properties"]
    facts = {
        "id": feature["id"], "title (en)": props["title_en"], "department": _department(props["department"]),
        "kind": props["kind"], "keywords": ", ".join(props["keywords"]), "licence": props["license"],
        "bbox": ", ".join(str(v) for v in props["bbox"] or []), "time": " / ".join((feature["time"] or {}).get("interval", [])),
        "created": props["created"], "updated": props["updated"], "features": props["featureCount"],
    }  # fmt: skip
    table = "".join(f"<tr><th>{escape(name)}</th><td>{escape(str(value if value is not None else ''))}</td></tr>"
                    for name, value in facts.items())  # fmt: skip
    fields = "".join(f"<li>{escape(f['name'])}: {escape(str(f['type']))}</li>" for f in props["fields"])
    links = "".join(f'<li><a href="{escape(link["href"])}">{escape(link["title"])}</a> ({escape(link["type"])})</li>'
                    for link in feature["links"])  # fmt: skip
    body = (f"<h1>{escape(props['title'])}</h1><p>{escape(props['description'])}</p><table>{table}</table>"
            f"<h2>字段 fields</h2><ul>{fields}</ul><h2>服务与下载 services and downloads</h2><ul>{links}</ul>")  # fmt: skip
    return page(props["title"], body)


def _department(department: dict[str, Any]) -> str:
    names = " ".join(name for name in (department.get("name_zh"), department.get("name_en")) if name)
    return f"{names} ({department['code']})" if names else str(department["code"])
