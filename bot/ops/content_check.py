"""内容检查 / content check over every response a citizen can receive: `python -m bot.ops.content_check`.

Run by `make lint-content` and `make test`; exits non-zero when there is any error. Checks:
  - wording: no phrase of the reviewed list data/forbidden_phrases.yml (rude, sarcastic,
    blaming, threatening, 你 instead of 您), in texts and button titles; the list's own `bad` and
    `ok` examples still behave as reviewed;
  - deflections and fallbacks give the citizen a next step (NEXT_STEP below, or buttons);
  - no empty text; at most 2048 bytes (WeChat's limit) with the city profile filled in;
  - every `{placeholder}` is a `city_*` value of data/city.yml or a slot of domain.yml;
  - metadata: owner, source and reviewed (YYYY-MM-DD) on every variation; not reviewed for
    12 months: warning;
  - no duplicate or contradictory answers: one text, one name; one definition per name; FAQ
    topics exactly one answer; every faq/<id> of data/topics.yml has its utter_faq/<id>, every
    deflect and crisis intent its response;
  - ticket routing: every topic of data/topics.yml that files tickets (report, crisis, the
    handoff intent) has `kind:` and `priority:`, each a value of bot/core/vocabulary.py;
  - a response that asks for personal data says what it is for (warning);
  - production (APP_ENV=production): no sample ("示例") values left in the city profile.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import yaml

from bot.core import catalogue, city, guard, topics, vocabulary
from bot.infra import settings

MAX_BYTES = 2048
REVIEW_EVERY = timedelta(days=365)
REQUIRED_METADATA = ("owner", "source", "reviewed")
# What counts as "a next step" for the citizen: a reply to send, a number to call, somewhere
# to go, something they can do. A deflection or fallback without one leaves the citizen stuck.
NEXT_STEP = re.compile(
    r"回复[“\"「]|拨打|致电|请您?|可以|可拨打|告诉我|再试|换个说法|转接|人工|前往|登录|联系|咨询|登记|申请|办理"
)
# Deflections and fallbacks: the deflect intents of data/topics.yml (utter_<intent>), these,
# any name that says so, and any response with `metadata: {kind: fallback | deflection}`.
FALLBACKS = frozenset(
    {
        "utter_default",
        "utter_offer_human",
        "utter_rephrase_ok",
        "utter_safe_fallback",
        "utter_service_busy",
        "utter_rate_limited",
        "utter_empty_message",
        "utter_message_truncated",
        "utter_unsupported_media",
        "utter_voice_not_recognized",
        "utter_feedback_sorry",
        "utter_ticket_not_found",
        "utter_invalid_phone",
    }
)
FALLBACK_NAME = re.compile(
    r"default|fallback|busy|not_found|not_recognized|unsupported|sorry|invalid|rate_limited|deflect"
)
# asking for personal data ... and saying why
ASKS_PERSONAL = re.compile(
    r"(请|麻烦)(您)?(留下|提供|输入|告诉我|发送)[^。；;]{0,12}(手机|电话|号码|身份证|银行卡|住址|姓名)"
)
SAYS_WHY = re.compile(r"用于|以便|为了|方便.{0,8}联系|仅.{0,6}联系")


@dataclass(frozen=True)
class Finding:
    level: str  # error | warning
    where: str  # response name (and file) or a data file
    zh: str
    en: str

    def line(self) -> str:
        label = {"error": "错误 ERROR  ", "warning": "警告 WARNING"}[self.level]
        return f"{label} {self.where}: {self.zh} / {self.en}"


@dataclass(frozen=True)
class Paths:
    root: Path
    city_file: Path
    topics_file: Path
    phrases_file: Path

    @classmethod
    def for_root(cls, root: Path | None = None) -> Paths:
        """The project's files; a copy of the project (tests) uses its own data/ throughout."""
        root = (root or settings.ROOT).resolve()
        if root == settings.ROOT.resolve():
            cfg = settings.load()
            return cls(root, Path(cfg.city_file), Path(cfg.topics_file), settings.DATA / guard.PHRASES_FILE)
        data = root / "data"
        return cls(root, data / "city.yml", data / "topics.yml", data / guard.PHRASES_FILE)


def _why(why: str) -> tuple[str, str]:
    """The list's reasons read "中文 / English"."""
    zh, _, en = why.partition(" / ")
    return zh, en or zh


def _where(r: catalogue.Response) -> str:
    return f"{r.name} ({r.source_file})"


def check_phrase_list(paths: Paths) -> list[Finding]:
    """The reviewed list still catches its `bad` examples and spares its `ok` ones."""
    out: list[Finding] = []
    where = (
        str(paths.phrases_file.relative_to(paths.root))
        if paths.phrases_file.is_relative_to(paths.root)
        else str(paths.phrases_file)
    )
    if not paths.phrases_file.exists():
        return [Finding("error", where, "禁用语清单不存在", "the forbidden phrase list is missing")]
    try:
        raw = yaml.safe_load(paths.phrases_file.read_text(encoding="utf-8")) or {}
        guard.phrases(paths.phrases_file)
    except (yaml.YAMLError, re.error, KeyError) as e:
        return [Finding("error", where, f"禁用语清单无法读取：{e}", f"the forbidden phrase list cannot be read: {e}")]
    for entry in raw.get("forbidden") or []:
        if not isinstance(entry, dict) or not entry.get("why"):
            out.append(Finding("error", where, f"条目缺少原因说明：{entry}", f"entry without a reason (why): {entry}"))
            continue
        single = [guard.Phrase(re.compile(str(entry["pattern"])), str(entry["why"]), bool(entry.get("outside_quotes")))]
        for example in entry.get("bad") or []:
            if not _flags(single, example):
                out.append(Finding("error", where, f"规则“{entry['pattern']}”没有识别出示例“{example}”",
                                   f"pattern does not catch its bad example {example!r}"))  # fmt: skip
        for example in entry.get("ok") or []:
            if _flags(single, example):
                out.append(Finding("error", where, f"规则“{entry['pattern']}”误判了正常用语“{example}”",
                                   f"pattern flags its ok example {example!r}"))  # fmt: skip
    return out


def _flags(phrases: list[guard.Phrase], text: str) -> bool:
    compact = guard.normalize(text)
    unquoted = guard.normalize(guard._QUOTED.sub("|", text))
    return any(p.pattern.search(unquoted if p.outside_quotes else compact) for p in phrases)


def _reviewed(value: object) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        return None


def check_response(
    r: catalogue.Response,
    cat: catalogue.Catalogue,
    paths: Paths,
    deflections: set[str],
    today: date,
) -> list[Finding]:
    out: list[Finding] = []
    w = _where(r)

    def err(zh: str, en: str) -> None:
        out.append(Finding("error", w, zh, en))

    def warn(zh: str, en: str) -> None:
        out.append(Finding("warning", w, zh, en))

    if not r.text.strip():
        err("回复文本为空", "empty text")
        return out
    # metadata: who answers for it, where it comes from, when it was last checked
    for key in REQUIRED_METADATA:
        if not str(r.metadata.get(key) or "").strip():
            err(f"缺少元数据 {key}", f"metadata {key} is missing")
    if r.metadata.get("reviewed"):
        reviewed = _reviewed(r.metadata["reviewed"])
        if reviewed is None:
            err(f"复核日期格式应为 YYYY-MM-DD：{r.metadata['reviewed']}", "reviewed must be a date YYYY-MM-DD")
        elif today - reviewed > REVIEW_EVERY:
            warn(f"已超过12个月未复核（上次复核 {reviewed}）", f"not reviewed for 12 months (last {reviewed})")
        elif reviewed > today + timedelta(days=1):
            warn(f"复核日期在未来：{reviewed}", f"reviewed date is in the future: {reviewed}")
    # placeholders
    for key in dict.fromkeys(catalogue.PLACEHOLDER.findall(r.text)):
        if key.startswith("city_"):
            if key not in cat.city_values:
                err(f"占位符 {{{key}}} 在城市档案 {paths.city_file.name} 中没有值",
                    f"placeholder {{{key}}} has no value in the city profile")  # fmt: skip
        elif key not in cat.slots:
            err(f"占位符 {{{key}}} 既不是城市档案项也不是 domain.yml 中的槽位",
                f"placeholder {{{key}}} is neither a city_* value nor a slot of domain.yml")  # fmt: skip
    rendered = cat.render(r.name, cat.variations(r.name).index(r))["text"]
    size = len(rendered.encode("utf-8"))
    if size > MAX_BYTES:
        err(
            f"填入城市档案后长度 {size} 字节，超过 {MAX_BYTES} 字节",
            f"{size} bytes with the city profile filled, over {MAX_BYTES}",
        )
    # wording
    for words, why in guard.phrase_hits(rendered, paths.phrases_file):
        zh, en = _why(why)
        err(f"含禁用语“{words}”：{zh}", f"forbidden phrase: {en}")
    for b in r.buttons:
        title = str(b.get("title") or "")
        if not title.strip():
            err("按钮没有标题", "a button has no title")
        for words, why in guard.phrase_hits(title, paths.phrases_file):
            zh, en = _why(why)
            err(f"按钮“{title}”含禁用语“{words}”：{zh}", f"button {title!r}: forbidden phrase: {en}")
    # a deflection or fallback must say what the citizen can do next
    kind = str(r.metadata.get("kind") or "")
    if (
        r.name in deflections
        or r.name in FALLBACKS
        or FALLBACK_NAME.search(r.name)
        or kind in ("fallback", "deflection")
    ) and not (NEXT_STEP.search(rendered) or r.buttons):
        err("推诿或兜底答复没有告诉群众下一步怎么办（如 回复“人工”、拨打、可以……）",
            "deflection/fallback without a next step for the citizen")  # fmt: skip
    if ASKS_PERSONAL.search(rendered) and not SAYS_WHY.search(rendered):
        warn("索要个人信息但没有说明用途", "asks for personal data without saying what it is for")
    return out


def check_routing(tcat: topics.Catalogue, paths: Paths) -> list[Finding]:
    """A topic that files tickets says how they are routed; otherwise they would silently go
    out as 咨询, P2 (bot/core/topics.py keeps the bot running and lists the problems)."""
    allowed = {
        "kind": "、".join(f"{k.value}（{vocabulary.KIND_LABELS[k]}）" for k in vocabulary.Kind),
        "priority": "、".join(vocabulary.PRIORITY_LABELS[p] for p in vocabulary.Priority),
    }
    out: list[Finding] = []
    for problem in tcat.problems:
        t = tcat.get(problem.intent)
        name = f"{problem.intent}（{t.title}）" if t else problem.intent
        if problem.value is None:
            zh = f"{name} 会生成工单，但没有写明 {problem.key}"
        else:
            zh = f"{name} 的 {problem.key}“{problem.value}”不是有效值"
        zh += f"；{problem.key} 应为 {allowed[problem.key]} 之一"
        out.append(Finding("error", paths.topics_file.name, f"工单路由：{zh}", f"ticket routing: {problem}"))
    return out


def check(
    root: Path | None = None, today: date | None = None, production: bool | None = None
) -> tuple[list[Finding], int]:
    """All findings, and how many responses were checked."""
    paths = Paths.for_root(root)
    today = today or date.today()
    production = settings.load().production if production is None else production
    findings = check_phrase_list(paths)
    if any(f.level == "error" and "cannot be read" in f.en for f in findings):
        return findings, 0  # nothing can be checked for wording without the list
    cat = catalogue.load(paths.root, str(paths.city_file))
    tcat = topics.load(str(paths.topics_file))
    deflections = {f"utter_{t.intent}" for t in tcat.of_kind("deflect")}

    count = 0
    by_text: dict[str, list[str]] = defaultdict(list)
    for name in cat.names():
        variations = cat.variations(name)
        files = sorted({v.source_file for v in variations})
        if len(files) > 1:
            findings.append(Finding("error", name, f"同一回复在多个文件中定义：{', '.join(files)}",
                                    f"defined in more than one file: {', '.join(files)}"))  # fmt: skip
        if name.startswith("utter_faq/") and len(variations) > 1:
            findings.append(Finding("error", name, f"同一问题有 {len(variations)} 个答案，可能互相矛盾；每个问题只能有一个经审核的答案",
                                    f"{len(variations)} answers for one topic (may contradict): exactly one approved answer"))  # fmt: skip
        seen: set[str] = set()
        for i, r in enumerate(variations):
            count += 1
            findings += check_response(r, cat, paths, deflections, today)
            text = cat.render(name, i)["text"].strip()
            if not text:
                continue
            if text in seen:
                findings.append(
                    Finding("warning", _where(r), "同一回复中有重复的文本", "duplicate variation of one response")
                )
            seen.add(text)
            if name not in by_text[text]:
                by_text[text].append(name)
    for text, names in by_text.items():
        if len(names) > 1:
            findings.append(Finding("error", ", ".join(names), f"不同回复使用了相同文本：“{text[:30]}…”",
                                    "the same text under different names (one text, one name)"))  # fmt: skip

    # the behaviour contract: every topic has its answer
    for t in tcat.of_kind("faq"):
        name = "utter_" + t.intent
        n = len(cat.variations(name))
        if n != 1:
            findings.append(Finding("error", name, f"topics.yml 中的 {t.intent}（{t.title}）应恰有一个答案，现有 {n} 个",
                                    f"{t.intent} of topics.yml must have exactly one answer, has {n}"))  # fmt: skip
    for name in cat.names():
        if name.startswith("utter_faq/") and not tcat.get("faq/" + name.split("/", 1)[1]):
            findings.append(Finding("warning", name, "答案没有对应的 topics.yml 问题（不会被识别，也不在报表中）",
                                    "answer without a faq topic in data/topics.yml"))  # fmt: skip
    required = [f"utter_{t.intent}" for t in tcat.of_kind("deflect")]
    required += [f"utter_crisis_{t.intent}" for t in tcat.of_kind("crisis")] + [guard.SAFE_FALLBACK]
    for name in required:
        if not cat.variations(name):
            findings.append(Finding("error", name, "缺少必需的回复", "required response is missing"))
    findings += check_routing(tcat, paths)

    samples = sorted(k for k, v in city.placeholders(str(paths.city_file)).items() if "示例" in v)
    if production and samples:
        findings.append(Finding("error", paths.city_file.name, f"城市档案仍是示例值：{', '.join(samples)}",
                                f"the city profile still holds sample values: {', '.join(samples)}"))  # fmt: skip
    return findings, count


def report(findings: list[Finding], count: int) -> str:
    errors = [f for f in findings if f.level == "error"]
    warnings = [f for f in findings if f.level == "warning"]
    lines = [f.line() for f in errors + warnings]
    verdict = "未通过 FAILED" if errors else "通过 PASSED"
    lines.append(
        f"内容检查{verdict}：{count} 条回复，{len(errors)} 个错误，{len(warnings)} 个警告 / "
        f"content check {verdict.split()[1].lower()}: {count} responses, {len(errors)} errors, {len(warnings)} warnings"
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=None, help="project directory (default: this one)")
    parser.add_argument("--today", type=date.fromisoformat, default=None, help="check review dates as of this day")
    args = parser.parse_args(argv)
    findings, count = check(args.root, args.today)
    sys.stdout.write(report(findings, count))
    return 1 if any(f.level == "error" for f in findings) else 0


if __name__ == "__main__":
    sys.exit(main())
