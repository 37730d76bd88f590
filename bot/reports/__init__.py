"""Supervision report (监督评价报告): the figures the city audits, whoever operates the service.

    python -m bot.reports --from 2026-11-01 --to 2026-11-30 [--out results]   (make report)

writes `report-<from>-<to>.html` (Chinese, charts inline) and `.csv` (every figure, one per row,
opens in Excel); the desk serves the same report at /supervisor (bot/desk/supervisor.py).

    records.py        the SQL records of a date range, as plain rows; the range in the city's time
    conversations.py  citizen messages grouped into conversations, with their tickets and ratings
    questions.py      the questions the bot could not answer, grouped for the ops team
    outcomes.py       each conversation's one outcome (独立解决率 counts two of them), and the
                      conversations that ended not understood
    rates.py          how a rate is shown: with its n, 样本不足 below 30
    figures.py        the figures as typed values, and compute(): one function per figure group
    definitions.py    口径说明: what each figure counts, printed in the report
    charts.py         the charts (matplotlib, only here)
    html.py           the page: templates/report.html (Jinja2, autoescaped) and report.css
    csv.py            the CSV: section, dimension, key, metric, value
    files.py          both files written to a folder
    __main__.py       the command line
"""
