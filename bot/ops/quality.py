"""The held-out figures compared (bot.ops.evaluate's format): what got worse, in Chinese for ops.

`make validate` (bot.ops.validate) compares new figures with the ones last committed;
`python -m bot.ops.evaluate --compare FILE` with any earlier file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.infra import settings

KIND_ZH = {
    "faq": "常见问题（FAQ）",
    "report": "投诉举报（报事）",
    "deflect": "劝导（超出受理范围等）",
    "crisis": "危机",
    "core": "对话（问候、确认、转人工等）",
    "other": "其他",
}


def topic_titles(root: Path) -> dict[str, str]:
    """intent -> its title in data/topics.yml, to name intents the way ops know them."""
    from bot.core import topics

    try:
        cat = topics.load(str(root / "data" / "topics.yml"))
    except (OSError, ValueError):
        return {}
    return {intent: t.title for intent, t in cat.topics.items()}


def name(intent: str, titles: dict[str, str]) -> str:
    """An intent with its title, "faq/hpf_loan（住房公积金贷款）"."""
    if intent == "nlu_fallback":
        return "没听懂（兜底）"
    return f"{intent}（{titles[intent]}）" if intent in titles else intent


def pct(x: float) -> str:
    return f"{x:.1%}"


def regressions(old: dict[str, Any], new: dict[str, Any], tolerance: float = 0.0) -> list[str]:
    """What got worse from `old` to `new` figures (bot.ops.evaluate's format), in Chinese; empty
    when nothing did. `tolerance` is in absolute rate (0.01 = one percentage point)."""
    eps = tolerance + 1e-9
    lines: list[str] = []
    titles = topic_titles(settings.ROOT)

    def worse(label: str, a: float, b: float, n: int | None, higher_is_better: bool, why: str = "") -> None:
        diff = (a - b) if higher_is_better else (b - a)
        if diff <= eps:
            return
        count = f"，约 {round(diff * n)} 条" if n else ""
        lines.append(f"{label}：{pct(a)} → {pct(b)}（变差 {diff * 100:.1f} 个百分点{count}）{why}")

    # the one error this product cannot make comes first
    if "crisis_recall" in old:
        crisis_n = (new.get("crisis") or {}).get("n")
        worse("危机识别率下降", old["crisis_recall"], new.get("crisis_recall", 0.0), crisis_n, True,
              "：有危机消息（自伤、险情、儿童）没有被识别，这是最严重的退步")  # fmt: skip
    for kind, zh in KIND_ZH.items():
        if kind not in old:
            continue
        o, n = old[kind], new.get(kind)
        if not n:
            lines.append(f"{zh}：评估结果里没有这一类了（之前有 {o.get('n', 0)} 条）")
            continue
        worse(f"{zh} 准确率下降", o["accuracy"], n["accuracy"], n.get("n"), True)
        worse(f"{zh} 没听懂（兜底）的比例上升", o["fallback_rate"], n["fallback_rate"], n.get("n"), False)
    if "false_accept" in old:
        worse("误答率上升", old["false_accept"], new.get("false_accept", 1.0), None, False,
              "：投诉举报或劝导类消息被当成常见问题回答了")  # fmt: skip
    if "crisis_false_alarm" in old:
        worse("危机误报率上升", old["crisis_false_alarm"], new.get("crisis_false_alarm", 1.0), None, False,
              "：普通消息被当成危机，会占用值班人员")  # fmt: skip
    if not lines:
        return []
    before = {(c["expected"], c["predicted"]): c["count"] for c in old.get("worst_confusions") or []}
    grown = [
        (c["count"] - before.get((c["expected"], c["predicted"]), 0), c)
        for c in new.get("worst_confusions") or []
        if c["count"] > before.get((c["expected"], c["predicted"]), 0)
    ]
    grown.sort(key=lambda x: -x[0])
    if grown:
        lines.append("原因（新出现或变多的混淆）：")
    for _, c in grown[:5]:
        e, p = c["expected"], c["predicted"]
        was = before.get((e, p), 0)
        lines.append(f"  · {name(e, titles)} 被识别成 {name(p, titles)}：{c['count']} 次（之前 {was} 次）")
        if p == "nlu_fallback":
            lines.append(f"    建议：为 {e} 补充这类说法的例句。")
        else:
            lines.append(f"    建议：检查 {p} 的例句里是否混进了 {e} 的说法，并为 {e} 补充能和它区分开的例句。")
    if old.get("examples") and new.get("examples") and old["examples"] != new["examples"]:
        lines.append(
            f"注意：评估集从 {old['examples']} 条变成了 {new['examples']} 条，部分差异可能来自评估集本身的变化。"
        )
    return lines
