"""学时: the hours credited for completed assignments, daily sets and mock exams, per learner
and year, with the activities behind each total; a department's as CSV or XLSX (one row per
learner). XLSX is written here (a zip of four XML parts) rather than with another dependency."""

from __future__ import annotations

import csv
import io
import zipfile
from collections import defaultdict
from datetime import datetime, timezone
from xml.sax.saxutils import escape

from sqlalchemy import and_, func, select

from assistant.access import require_trainer
from assistant.db import aware
from assistant.learners import display_name
from assistant.models import Principal
from assistant.training.assignments import departments_of
from assistant.training.store import hour_credits, roster

ACTIVITY = {"assignment": "训练任务", "daily": "每日一练", "exam": "模拟考试"}


def _year_range(year: int):
    return datetime(year, 1, 1, tzinfo=timezone.utc), datetime(year + 1, 1, 1, tzinfo=timezone.utc)


class Hours:
    def __init__(self, engine) -> None:
        self.engine = engine

    def learner(self, learner: str, *, year: int) -> dict:
        start, end = _year_range(year)
        with self.engine.connect() as conn:
            rows = conn.execute(select(hour_credits).where(and_(
                hour_credits.c.learner == learner, hour_credits.c.at >= start, hour_credits.c.at < end))
                .order_by(hour_credits.c.at)).mappings().all()
        activities = [{"activity": r["activity"], "name": ACTIVITY[r["activity"]], "ref": r["ref"],
                       "title": r["title"], "hours": r["hours"], "at": aware(r["at"]).isoformat()} for r in rows]
        return {"learner": learner, "year": year, "total": round(sum(a["hours"] for a in activities), 2),
                "activities": activities}

    def mine(self, *, principal: Principal, year: int) -> dict:
        return self.learner(principal.learner, year=year) | {"user": principal.user}

    def department(self, *, principal: Principal, department: str | None, year: int) -> list[dict]:
        """One row per current learner of the department(s) a trainer may see (learner keys and
        messenger members), zero-hour learners too; an admin without a department: everyone credited.
        Daily sets are summed in the database (a year of them is one line), the rest listed."""
        require_trainer(principal, "a department's 学时")
        scope = departments_of(principal, [department] if department else None)
        start, end = _year_range(year)
        c = hour_credits.c
        with self.engine.connect() as conn:
            people = roster(conn, scope) if scope is not None else []
            where = and_(c.at >= start, c.at < end)
            if scope is not None:  # the department's current learners (the roster), by the learner index
                where = and_(where, c.learner.in_([p.learner for p in people]))
            sums = conn.execute(select(c.learner, c.activity, func.count(), func.sum(c.hours)).where(where)
                                .group_by(c.learner, c.activity)).all()
            listed = conn.execute(select(c.learner, c.activity, c.title, c.hours)
                                  .where(and_(where, c.activity != "daily")).order_by(c.at)).all()
        per: dict[str, dict] = {}
        for p in people:
            per[p.learner] = {"learner": p.learner, "user": p.user, "departments": list(p.departments)}

        def entry(learner: str) -> dict:
            if learner not in per:
                departments = [d for d in learner.partition("@")[2].split("+") if d]
                per[learner] = {"learner": learner, "user": display_name(learner, departments),
                                "departments": departments}
            return per[learner]

        lines: dict[str, list[str]] = defaultdict(list)
        for learner, activity, title, hours in listed:
            entry(learner)
            lines[learner].append(f"{ACTIVITY[activity]}「{title}」{hours:g}")
        by_kind: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for learner, activity, count, hours in sums:
            entry(learner)
            by_kind[learner][activity] += hours or 0.0
            if activity == "daily":
                lines[learner].append(f"每日一练 {count} 次 {hours:g}")
        out = []
        for learner, e in sorted(per.items()):
            kinds = by_kind[learner]
            out.append({**e, "total": round(sum(kinds.values()), 2), **{k: round(kinds[k], 2) for k in ACTIVITY},
                        "activities": "；".join(lines[learner])})
        return out


COLUMNS = [("user", "姓名"), ("departments", "部门"), ("total", "学时合计"), ("assignment", "训练任务"),
           ("daily", "每日一练"), ("exam", "模拟考试"), ("activities", "明细")]


def _cells(row: dict) -> list:
    return ["、".join(row[k]) if k == "departments" else row[k] for k, _ in COLUMNS]


def to_csv(rows: list[dict]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([name for _, name in COLUMNS])
    for row in rows:
        writer.writerow(_cells(row))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")  # the BOM makes Excel read it as UTF-8


def to_xlsx(rows: list[dict]) -> bytes:
    def cell(ref: str, value) -> str:
        if isinstance(value, (int, float)):
            return f'<c r="{ref}"><v>{value}</v></c>'
        return f'<c r="{ref}" t="inlineStr"><is><t>{escape(str(value))}</t></is></c>'

    def col(i: int) -> str:
        return chr(ord("A") + i)

    lines = [[name for _, name in COLUMNS], *(_cells(r) for r in rows)]
    sheet = "".join(f'<row r="{n}">' + "".join(cell(f"{col(i)}{n}", v) for i, v in enumerate(values)) + "</row>"
                    for n, values in enumerate(lines, 1))
    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    parts = {
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
        'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
        'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'spreadsheetml.worksheet+xml"/></Types>',
        "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
        f'package/2006/relationships"><Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/>'
        '</Relationships>',
        "xl/workbook.xml": f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{ns}" xmlns:r="{rel}"><sheets>'
        '<sheet name="学时" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
        f'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{rel}/worksheet" '
        'Target="worksheets/sheet1.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{ns}"><sheetData>{sheet}'
        '</sheetData></worksheet>',
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in parts.items():
            z.writestr(name, text)
    return buffer.getvalue()
