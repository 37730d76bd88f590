"""从真实来信里学习：没听懂和没把握的消息，聚类后交给运营标注，再变成例句。

    python -m bot.ops.learn --from 2026-11-01 --to 2026-11-30      -> results/candidates.xlsx + .csv
    python -m bot.ops.learn --apply results/candidates.xlsx          -> labelled rows become examples

Candidates: the inbound records (bot.infra.db.InboundRecord; text already masked when recorded, and
masked again here) of the period, answered by the bot, not crisis-screened, whose intent was
`nlu_fallback` or whose confidence was below the threshold. The same wording is one row (with
its count); similar wordings are grouped (character 1-3-gram TF-IDF, then agglomerative
clustering on cosine distance) so that ops label a group at a time, biggest groups first. Each
row has the predicted intent and an empty "正确意图" column for ops to fill with the intent the
message should have had (the sheet "意图 intents" lists them), or leave empty to skip.
`--apply` adds the labelled rows as examples through the same validated import as the FAQ
spreadsheet (no conflicting or duplicate examples), then `make validate` decides.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from bot.core import city, topics
from bot.core.privacy import mask
from bot.infra import db, settings
from bot.ops import spreadsheet, spreadsheet_book, spreadsheet_yaml

FALLBACK = "nlu_fallback"
THRESHOLD = 0.7  # above the FallbackClassifier's 0.55: answered, but not surely right
MAX_AGGLOMERATIVE = 3000  # beyond this the O(n²) distance matrix gets big: k-means instead
DISTANCE = 0.85  # cosine distance (average linkage) under which wordings form one group
COLUMNS = [
    ("cluster", "组"),
    ("cluster_size", "组内条数"),
    ("text", "消息（已脱敏）"),
    ("count", "次数"),
    ("predicted_intent", "模型判断"),
    ("predicted_title", "模型判断的标题"),
    ("confidence", "置信度"),
    ("correct_intent", "正确意图（请填写）"),
    ("first_seen", "首次出现"),
]
SKIP = {"", "-", "忽略", "跳过", "skip", "none"}


@dataclass
class Candidate:
    text: str
    count: int
    predicted: str
    confidence: float
    first_seen: datetime
    cluster: int = 0
    cluster_size: int = 0
    words: str = field(default="", repr=False)


def bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, the day after end 00:00) in the city's time zone, as UTC."""
    tz = city.timezone()
    t0 = datetime.combine(start, time(0), tzinfo=tz).astimezone(timezone.utc)
    t1 = datetime.combine(end + timedelta(days=1), time(0), tzinfo=tz).astimezone(timezone.utc)
    return t0, t1


def candidates(start: date, end: date, threshold: float = THRESHOLD) -> list[Candidate]:
    t0, t1 = bounds(start, end)
    R = db.InboundRecord
    with db.session() as s:
        rows = (
            s.query(R.text, R.intent, R.confidence, R.at)
            .filter(R.at >= t0, R.at < t1, R.handled_by == "bot", R.crisis.is_(None), R.intent.isnot(None))
            .filter((R.intent == FALLBACK) | (R.confidence < threshold) | R.confidence.is_(None))
            .order_by(R.at)
            .all()
        )
    grouped: dict[str, list[Any]] = {}
    for text, intent, confidence, at in rows:
        text = mask(text or "").strip()
        words = spreadsheet_book.normalise(text)
        if not words:
            continue
        at = (at if at.tzinfo else at.replace(tzinfo=timezone.utc)).astimezone(city.timezone())  # SQLite: naive UTC
        grouped.setdefault(words, []).append((text, intent, confidence, at))
    out = []
    for words, items in grouped.items():
        predicted = Counter(i for _, i, _, _ in items).most_common(1)[0][0]
        confs = [c for _, _, c, _ in items if c is not None]
        out.append(Candidate(text=items[0][0], count=len(items), predicted=predicted,
                             confidence=round(sum(confs) / len(confs), 3) if confs else 0.0,
                             first_seen=items[0][3], words=words))  # fmt: skip
    return out


def cluster(items: list[Candidate], distance: float = DISTANCE) -> list[Candidate]:
    """Number groups of similar wordings 1, 2, ... biggest first; rows sorted for labelling."""
    if not items:
        return []
    if len(items) == 1:
        labels = [0]
    else:
        from sklearn.feature_extraction.text import TfidfVectorizer

        # characters, not words: citizens' typos and homophones share most of their n-grams
        vectors = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True).fit_transform(
            [c.words for c in items]
        )
        if len(items) <= MAX_AGGLOMERATIVE:
            from sklearn.cluster import AgglomerativeClustering

            try:  # scikit-learn >= 1.2 calls it metric
                model = AgglomerativeClustering(
                    n_clusters=None, metric="cosine", linkage="average", distance_threshold=distance
                )
            except TypeError:
                model = AgglomerativeClustering(
                    n_clusters=None, affinity="cosine", linkage="average", distance_threshold=distance
                )
            labels = list(model.fit_predict(vectors.toarray()))
        else:
            from sklearn.cluster import MiniBatchKMeans

            k = max(2, len(items) // 15)
            labels = list(MiniBatchKMeans(n_clusters=k, random_state=12345, n_init=3).fit_predict(vectors))
    weight: Counter[int] = Counter()
    for c, label in zip(items, labels, strict=True):
        weight[label] += c.count
    order = {label: i + 1 for i, (label, _) in enumerate(sorted(weight.items(), key=lambda x: (-x[1], x[0])))}
    for c, label in zip(items, labels, strict=True):
        c.cluster, c.cluster_size = order[label], weight[label]
    return sorted(items, key=lambda c: (c.cluster, -c.count, c.text))


def _row(c: Candidate, titles: dict[str, str]) -> list[Any]:
    return [c.cluster, c.cluster_size, c.text, c.count, c.predicted, titles.get(c.predicted, ""),
            c.confidence, "", c.first_seen.strftime("%Y-%m-%d %H:%M")]  # fmt: skip


def write(items: list[Candidate], out_dir: Path) -> list[Path]:
    cat = topics.load()
    titles = {i: t.title for i, t in cat.topics.items()}
    titles[FALLBACK] = "没听懂（兜底）"
    header = [f"{zh} {key}" for key, zh in COLUMNS]
    rows = [_row(c, titles) for c in items]
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / "candidates.csv"
    with csv_path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation
    from openpyxl.worksheet.worksheet import Worksheet

    wb = Workbook()
    ws = wb.active
    assert isinstance(ws, Worksheet)  # a new workbook opens on its one worksheet
    ws.title = "候选 candidates"
    ws.append(header)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for r in rows:
        ws.append(r)
    for cell in ws["C"][1:]:
        cell.data_type = "s"  # a message is text, even "=1+1" or "12345"
    fill = PatternFill("solid", fgColor="FFF2CC")
    for cell in ws["H"]:
        cell.fill = fill
    for col, width in zip("ABCDEFGHI", [6, 10, 60, 6, 30, 28, 8, 30, 17], strict=True):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A2"
    intents = wb.create_sheet("意图 intents")
    intents.append(["意图 intent", "标题 title", "类别 kind"])
    names = sorted(cat.topics)
    for name in names:
        t = cat.topics[name]
        intents.append([name, t.title, t.kind])
    intents.column_dimensions["A"].width = 36
    intents.column_dimensions["B"].width = 50
    if rows:
        dv = DataValidation(type="list", formula1=f"='意图 intents'!$A$2:$A${len(names) + 1}", allow_blank=True)
        dv.error, dv.errorTitle = "请从“意图 intents”表中选择意图，或留空跳过", "意图不存在"
        ws.add_data_validation(dv)
        dv.add(f"H2:H{len(rows) + 1}")
    xlsx_path = out_dir / "candidates.xlsx"
    wb.save(xlsx_path)
    return [xlsx_path, csv_path]


def labelled(path: Path) -> list[tuple[int, str, str]]:
    """(row, text, correct intent) of every labelled row of a candidates file."""
    raw: list[Sequence[Any]]
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True, data_only=True)
        raw = list(wb.worksheets[0].iter_rows(values_only=True))
        wb.close()
    else:
        with path.open(encoding="utf-8-sig", newline="") as f:
            raw = list(csv.reader(f))
    if not raw:
        return []
    header = [str(h or "") for h in raw[0]]

    def col(key: str) -> int:
        for i, h in enumerate(header):
            if key in h.split():
                return i
        raise ValueError(f"候选表缺少列 {key}")

    ti, ci = col("text"), col("correct_intent")
    out = []
    for n, r in enumerate(raw[1:], start=2):
        text = str(r[ti] or "").strip() if ti < len(r) else ""
        intent = str(r[ci] or "").strip() if ci < len(r) else ""
        if text and intent.lower() not in SKIP:
            out.append((n, text, intent))
    return out


def apply(path: Path, root: Path | None = None, dry_run: bool = False) -> spreadsheet.ImportResult:
    """Labelled candidates become training examples (validated like a spreadsheet import)."""
    book = spreadsheet_yaml.book_of(spreadsheet_yaml.load_project(root))
    have = {(e.intent, spreadsheet_book.normalise(e.text)) for e in book.examples}
    for row, text, intent in labelled(path):
        if (intent, spreadsheet_book.normalise(text)) not in have:
            book.examples.append(spreadsheet_book.Example(intent, text, row))
            have.add((intent, spreadsheet_book.normalise(text)))
    return spreadsheet.import_book(book, root, dry_run=dry_run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    today = datetime.now(city.timezone()).date()
    parser.add_argument("--from", dest="start", type=date.fromisoformat, default=today - timedelta(days=7))
    parser.add_argument("--to", dest="end", type=date.fromisoformat, default=today)
    parser.add_argument("--threshold", type=float, default=THRESHOLD, help="低于这个置信度算“没把握”")
    parser.add_argument("--out", type=Path, default=settings.ROOT / "results")
    parser.add_argument("--apply", type=Path, help="把标注好的候选表加入例句")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    w = sys.stdout.write
    if args.apply:
        result = apply(args.apply, dry_run=args.dry_run)
        for p in result.problems:
            w(p.line().replace("例句表", "例句（候选表对应行）") + "\n")
        if not result.ok:
            w("未加入：请改正候选表中标注的意图后重试，没有修改任何文件。\n")
            return 1
        for c in result.changes:
            w(f"  · {c.zh}\n")
        w(
            "已加入例句。下一步：make validate，通过后提交并 make ship。\n"
            if result.changes
            else "没有新的例句需要加入。\n"
        )
        return 0
    from sqlalchemy.exc import SQLAlchemyError

    try:
        found = candidates(args.start, args.end, args.threshold)
    except SQLAlchemyError as e:
        w(f"读不到来信记录（数据库 {settings.load().sqlalchemy_url.split('@')[-1]}）：{type(getattr(e, 'orig', None) or e).__name__}。"
          "请确认 DATABASE_URL 指向线上的数据库，并且服务运行过（make run 会建好数据表）。\n")  # fmt: skip
        return 1
    items = cluster(found)
    files = write(items, args.out)
    groups = len({c.cluster for c in items})
    total = sum(c.count for c in items)
    w(f"{args.start} 至 {args.end}：{total} 条没听懂或没把握的消息，{len(items)} 种说法，分成 {groups} 组。\n")
    w(f"已写出：{'、'.join(str(f) for f in files)}\n")
    w("请在“正确意图”一列填上应属的意图（留空则跳过），然后运行 make learn APPLY=results/candidates.xlsx。\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
