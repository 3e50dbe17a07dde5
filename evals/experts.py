"""Does a published expert answer come back when the question is asked again, in other words?

    python -m evals.experts [--embedder use-m3] [--out evals/reports/experts.md]

Over the demo corpus (corpus/) in a fresh data directory: questions the materials do not
answer (evals/data/expert_questions.jsonl, written for this project, each with paraphrases a
colleague might type) are escalated, answered by an "expert" who quotes the first sentence of
the first passage retrieved for them (the content is beside the point here; the answer is
verified as any expert's) and published. Then every paraphrase, and in-corpus control
questions, are asked as a member of another department. Reported: the share of paraphrases
answered from their own qa document (cited 检答·第N号), the share citing another question's,
the share still declined, the controls that cite any qa document (the cost of adding
material), and how many paraphrases the duplicate rule would have linked to the original.
"""

from __future__ import annotations

import argparse
import re
import shutil
import tempfile
import time
from pathlib import Path

from assistant.config import load_settings
from assistant.evaluation import read_jsonl
from assistant.experts.pool import similarity
from assistant.models import Principal
from assistant.service import build_assistant

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data" / "expert_questions.jsonl"
CONTROLS = ["正当防卫的限度怎么认定", "醉驾案件在什么情况下可以相对不起诉", "认罪认罚案件量刑建议怎么提",
            "行政公益诉讼诉前检察建议的回复期限", "民事生效裁判监督的审查重点"]
ASKER = Principal(user="asker", role="learner", departments=("刑事检察部",))
OTHER = Principal(user="other", role="learner", departments=("民事检察部",))
TRAINER = Principal(user="trainer", role="trainer", departments=("刑事检察部",))


def first_sentence(text: str) -> str:
    m = re.match(r"[^。！？；\n]{6,}?[。！？；]", text)
    return (m.group(0)[:-1] if m else text[:40]).strip()


def run(embedder: str) -> dict:
    items = read_jsonl(DATA)
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp) / "data", embedder={"name": embedder})
        a = build_assistant(settings)
        started = time.perf_counter()
        a.ingest([ROOT / "corpus"])
        a.experts.add_expert("expert", ["criminal", "civil", "administrative", "public_interest", "general"],
                             ["刑事检察部"])
        expert = a.experts.expert_principal("expert")
        published, skipped = {}, []
        for item in items:
            if not a.ask(item["question"], principal=ASKER).refused:
                skipped.append(item["question"])  # the materials answer it already: not a question for experts
                continue
            view = a.experts.escalate(item["question"], principal=ASKER, line=item["line"])
            work = a.experts.claim(view["id"], expert)
            quote = first_sentence(work["passages"][0]["text"])
            a.experts.answer(view["id"], expert, f"就此问题，可参考“{quote}”[1]。")
            published[item["question"]] = a.review.publish(view["id"], TRAINER)["label"]
        own = other = declined = linked = total = 0
        for item in items:
            label = published.get(item["question"])
            if label is None:
                continue
            for paraphrase in item["paraphrases"]:
                total += 1
                answer = a.ask(paraphrase, principal=OTHER)
                labels = [c.label for c in answer.citations]
                own += label in labels
                other += any(x.startswith("检答") and x != label for x in labels)
                declined += answer.refused
                linked += similarity(paraphrase, item["question"], a.question_terms) >= \
                    settings.experts.duplicate_similarity
        polluted = sum(any(c.label.startswith("检答") for c in a.ask(q, principal=OTHER).citations) for q in CONTROLS)
        seconds = time.perf_counter() - started
        shutil.rmtree(Path(tmp) / "data", ignore_errors=True)
    return {"embedder": embedder, "questions": len(items), "published": len(published), "skipped": skipped,
            "paraphrases": total, "own": own, "other": other, "declined": declined, "linked": linked,
            "controls": len(CONTROLS), "controls_citing_qa": polluted, "seconds": seconds}


def report(r: dict) -> str:
    share = (lambda n: f"{n}/{r['paraphrases']} ({n / r['paraphrases']:.0%})") if r["paraphrases"] else str
    skipped = "".join(f"\n  - {q}" for q in r["skipped"])
    return (f"# Published expert answers, asked again\n\n`python -m evals.experts --embedder {r['embedder']}` "
            f"({r['seconds']:.0f} s)\n\n"
            f"- questions escalated and published: {r['published']} of {r['questions']}"
            f"{' (answered by the materials already, not escalated:' + skipped + ')' if skipped else ''}\n"
            f"- paraphrases answered from their own qa document: {share(r['own'])}\n"
            f"- paraphrases citing another question's qa document: {share(r['other'])}\n"
            f"- paraphrases still declined: {share(r['declined'])}\n"
            f"- paraphrases the duplicate rule would link to the original: {share(r['linked'])}\n"
            f"- in-corpus control questions whose answer cites a qa document: {r['controls_citing_qa']}/"
            f"{r['controls']}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedder", default="use-m3")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "reports" / "experts.md")
    args = parser.parse_args()
    text = report(run(args.embedder))
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
