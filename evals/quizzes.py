"""Quiz evaluation: five template questions for every case of guiding_cases.jsonl.

    python -m evals.quizzes [--out evals/reports/quizzes.md]

Reports the validity rate (candidates that pass validate.py; target >= 98%), how many
cases give the full five, the mix of kinds, types and difficulties, and ten sample
questions rendered for a human to read.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from assistant.config import load_settings
from assistant.index.embedders import HashEmbedder
from assistant.models import Principal
from assistant.quiz import survey
from assistant.service import build_assistant
from evals.common import REPORTS, shared_data

LETTERS = "ABCDEF"


def render(q: dict) -> str:
    lines = [f"**{q['kind']} · {q['type']} · 难度 {q['difficulty']}**", "", q["stem"], ""]
    lines += [f"- {LETTERS[i]}. {o}" for i, o in enumerate(q["options"])]
    lines += ["", f"答案：{'、'.join(LETTERS[i] for i in q['answer'])}　{q['explanation']}", ""]
    lines += [f"> 出处：{c['label']}　“{c['quote']}”" for c in q["citations"]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPORTS / "quizzes.md")
    args = parser.parse_args()
    # questions come from the ledger's text; the embedder does not matter here
    work = Path(tempfile.mkdtemp(prefix="jianxue-quiz-"))
    assistant = build_assistant(load_settings(data_dir=work, embedder={"name": "hash-64"}), embedder=HashEmbedder(64))
    assistant.ingest([shared_data() / "guiding_cases.jsonl"])
    started = time.perf_counter()
    result = survey(assistant, principal=Principal.local_admin(), n=5)
    seconds = time.perf_counter() - started
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, ensure_ascii=False, indent=2))
    verdict = "met" if result["validity"] >= 0.98 else "MISSED"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        "# Quiz evaluation\n\n"
        f"`python -m evals.quizzes` on {time.strftime('%Y-%m-%d')}: the template generator (no model) asked for "
        f"five questions for each of the {result['cases']} cases in ../shared/data/guiding_cases.jsonl "
        f"({seconds:.1f} s).\n\n"
        "| measure | value | target |\n|---|---|---|\n"
        f"| candidates that pass validation | {result['valid']} / {result['candidates']} = {result['validity']:.1%} "
        f"| >= 98% ({verdict}) |\n"
        f"| questions kept (at most five per case) | {result['questions']} | |\n"
        f"| cases by number of questions kept | {result['cases_by_question_count']} | |\n"
        f"| kinds | {result['kinds']} | |\n| types | {result['types']} | |\n"
        f"| difficulty (1 easy .. 3 hard) | {result['difficulty']} | |\n\n"
        "Kinds: `charge` which charge fits the facts; `decision` which procuratorial decision was taken; `cloze` a "
        "legal term blanked out of the key points (or guidance); `key_point` true/false on a key-point statement "
        "or its faithful negation; `key_points` several correct statements among negated ones.\n\n"
        "Validation applies to every question: schema, the declared number of correct options, options distinct "
        "and no 'all of the above', every quote verbatim in its passage, the answer supported by the cited text "
        "(and, for several correct options, the wrong ones contradicted by it), the stem not giving the answer "
        "away. Cases that give fewer than five have short key points without a legal term from the dictionary or "
        "a modal word to negate.\n\n"
        f"Dropped candidates (first ones): {result['dropped'][:5] or 'none'}\n\n"
        "## Ten sample questions\n\n" + "\n\n---\n\n".join(render(q) for q in result["samples"]) + "\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
