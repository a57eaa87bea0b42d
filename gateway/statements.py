"""An account's monthly statement as a printable HTML page and as a PDF (fpdf2), from the one document the
JSON and CSV forms give too."""

from __future__ import annotations

import html
from typing import Any

STATEMENT_COLUMNS = ("cdr_id", "credit", "session_id", "charge_point_id", "start", "end", "energy_kwh",
                     "green_energy_kwh", "currency", "excl_vat", "vat", "incl_vat")  # fmt: skip

_HEADINGS = {
    "cdr_id": "CDR", "credit": "Credit", "session_id": "Session", "charge_point_id": "Charger", "start": "Start",
    "end": "End", "energy_kwh": "kWh", "green_energy_kwh": "Green kWh", "currency": "Cur.",
    "excl_vat": "Excl. VAT", "vat": "VAT", "incl_vat": "Incl. VAT",
}  # fmt: skip


def _text(value: object) -> str:
    """The PDF's core fonts are Latin-1: what lies beyond it is shown as '?', never an error."""
    text = "yes" if value is True else "" if value is False or value is None else str(value)
    return text.encode("latin-1", "replace").decode("latin-1")


def _when(value: object) -> str:
    return _text(value).replace("T", " ")[:16]  # minutes, UTC, as on the HTML page


def statement_pdf(document: dict[str, Any]) -> bytes:
    account = document["account"]
    from fpdf import FPDF  # noqa: PLC0415 - here: fpdf and what it loads cost ~50 MiB a process need not hold

    pdf = FPDF(orientation="landscape", format="A4")
    pdf.set_title(f"Charging statement {account['id']} {document['month']}")
    pdf.set_creator("CoopGrid")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(text=_text(f"Charging statement {document['month']}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    owner = account["name"] or account["id"]
    cooperative = f", {account['cooperative_id']}" if account.get("cooperative_id") else ""
    pdf.cell(text=_text(f"{owner} ({account['kind']}{cooperative})"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", size=7)
    with pdf.table(text_align="RIGHT", first_row_as_headings=True) as table:
        table.row([_HEADINGS.get(column, column) for column in STATEMENT_COLUMNS])
        for line in document["lines"]:
            table.row([_when(line[c]) if c in ("start", "end") else _text(line[c]) for c in STATEMENT_COLUMNS])
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 9)
    for currency, total in document["totals"].items():
        pdf.cell(
            text=_text(
                f"Total {currency}: {total['excl_vat']} excl. VAT, {total['vat']} VAT, {total['incl_vat']} incl. VAT"
            ),
            new_x="LMARGIN",
            new_y="NEXT",
        )
    parks = document.get("green_energy_by_park_kwh") or {}
    if parks:
        pdf.ln(3)
        pdf.cell(text="Green energy by park", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=9)
        for park, kwh in parks.items():
            pdf.cell(text=_text(f"{park}: {kwh:g} kWh"), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def statement_html(document: dict[str, Any]) -> str:
    account = document["account"]
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(line[c]))}</td>" for c in STATEMENT_COLUMNS) + "</tr>"
        for line in document["lines"]
    )
    totals = "".join(
        f"<tr><th colspan=9>Total {html.escape(c)}</th><td>{t['excl_vat']}</td><td>{t['vat']}</td>"
        f"<td>{t['incl_vat']}</td></tr>"
        for c, t in document["totals"].items()
    )
    head = "".join(f"<th>{html.escape(c)}</th>" for c in STATEMENT_COLUMNS)
    parks = "".join(
        f"<tr><th>{html.escape(park)}</th><td>{kwh:g} kWh</td></tr>"
        for park, kwh in document["green_energy_by_park_kwh"].items()
    )
    by_park = f"<h2>Green energy by park</h2><table class=parks><tbody>{parks}</tbody></table>" if parks else ""
    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        f"<title>Statement {html.escape(account['id'])} {html.escape(document['month'])}</title>"
        "<style>body{font:12px sans-serif;margin:2em}table{border-collapse:collapse;width:100%}"
        "td,th{border:1px solid #999;padding:3px 6px;text-align:right}@media print{body{margin:0}}</style>"
        f"<h1>Charging statement {html.escape(document['month'])}</h1>"
        f"<p>{html.escape(account['name'] or account['id'])} ({html.escape(account['kind'])}"
        f"{', ' + html.escape(account['cooperative_id']) if account['cooperative_id'] else ''})</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody><tfoot>{totals}</tfoot></table>{by_park}</html>"
    )
