"""A seeded training fixture: the demo corpus, its quizzes published, 500 learners in five
departments (API keys), a trainer per department, and a year of their answers — attempts,
the 错题本, assignments with completion, 学时 — written in bulk, then the console's roll-ups
rebuilt from the attempts (as `Console.rebuild` does for any database).

    python -m evals.training_fixture DATA_DIR [--learners 500] [--days 365] [--per-day 2] [--seed 2027]

Prints one JSON line: counts, the trainers' and the admin's keys (for evals/bench_console.py).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

from evals.common import REPO

DEPARTMENTS = ("第一检察部", "第二检察部", "第三检察部", "第四检察部", "第五检察部")
TOPICS = ("正当防卫", "认罪认罚", "不起诉", "审查逮捕", "公益诉讼", "虚假诉讼", "未成年人", "检察建议", "羁押必要性",
          "行政非诉执行")


def seeded_quizzes(assistant, admin, seed: int) -> list:
    """Six template questions on each case and topic, made with a fixed seed (QuizWorkflow.make
    salts each quiz, which would make every fixture different)."""
    from assistant.quiz import assemble, collect, pick
    from assistant.quiz.generate import Pool, TemplateGenerator, case_charge

    cases = assistant.quizzes.sources(principal=admin, limit=100)
    pool = Pool(charges=[found[0] for s in cases if (found := case_charge(s))])
    made = []
    for subject, sources in [*((s.title, [s]) for s in cases),
                             *((t, assistant.quizzes.sources(principal=admin, topic=t, limit=3)) for t in TOPICS)]:
        texts = {c.chunk_id: c.text for s in sources for c in s.chunks}
        generator = TemplateGenerator(pool, seed=f"fixture|{seed}|{subject}")
        questions = pick(collect(generator, sources, texts, per_source=6 if len(sources) == 1 else 2), 6)
        if questions:
            quiz = assemble(questions, title=f"{subject} · {len(questions)}题", topic=subject, line=sources[0].line,
                            user="local", salt=f"fixture|{seed}", dropped=[])
            assistant.quizzes.store.save_quiz(quiz)
            made.append(quiz)
    return made


def generate(data_dir: Path, *, learners: int = 500, days: int = 365, per_day: float = 2.0, seed: int = 2027) -> dict:
    from assistant.config import load_settings
    from assistant.index.embedders import HashEmbedder
    from assistant.learners import attempts
    from assistant.models import Principal
    from assistant.service import build_assistant
    from assistant.training.store import assignment_progress, assignments, hour_credits, mistakes

    started = time.perf_counter()
    rng = random.Random(seed)
    assistant = build_assistant(load_settings(data_dir=data_dir, embedder={"name": "hash-64"}),
                                embedder=HashEmbedder(64))
    assistant.ingest([REPO / "corpus"])
    admin = Principal.local_admin()
    trainers = {d: Principal(user=f"trainer{i + 1}", role="trainer", departments=(d,))
                for i, d in enumerate(DEPARTMENTS)}
    quizzes = seeded_quizzes(assistant, admin, seed)
    for quiz in quizzes:
        assistant.quizzes.publish(quiz.id, principal=admin)
    questions = {q.id: q for quiz in quizzes for q in quiz.questions}
    pool = list(questions.values())
    for d in DEPARTMENTS:  # one draft per department for the console's review list
        assistant.quizzes.make(principal=trainers[d], topic=rng.choice(TOPICS), n=4, use_model=False)

    keys = {"admin": assistant.keys.create(user="admin", role="admin", departments=())[1]}
    for d, t in trainers.items():
        keys[d] = assistant.keys.create(user=t.user, role="trainer", departments=(d,))[1]
    people = []
    for i in range(learners):
        dept = DEPARTMENTS[i % len(DEPARTMENTS)]
        assistant.keys.create(user=f"learner{i:03d}", role="learner", departments=(dept,))
        people.append((f"learner{i:03d}", dept, rng.gauss(0.62, 0.12)))
    effect = {(d, q.topic): rng.uniform(-0.15, 0.15) for d in DEPARTMENTS for q in pool}

    end = datetime.now(timezone.utc).replace(microsecond=0)
    start = end - timedelta(days=days)
    rows, last = [], {}
    for user, dept, skill in people:
        learner = f"{user}@{dept}"
        for day in range(days):
            for _ in range(rng.choices((0, 1, 2, 3, 4, 5), weights=(35, 10, 15, 20, 12, 8))[0]
                           if per_day > 0 else 0):
                q = rng.choice(pool)
                growth = 0.12 * day / days
                p = min(0.97, max(0.05, skill + growth + 0.08 * (2 - q.difficulty) + effect[(dept, q.topic)]))
                correct = rng.random() < p
                at = start + timedelta(days=day, seconds=rng.randrange(8 * 3600, 20 * 3600))
                chosen = list(q.answer) if correct else [next(j for j in range(len(q.options)) if j not in q.answer)]
                rows.append({"user": learner, "departments": [dept], "quiz_id": None, "question_id": q.id,
                             "topic": q.topic, "line": q.line, "chosen": chosen, "correct": correct, "at": at})
                last[(learner, q.id)] = (correct, chosen, at, dept, user)
    engine = assistant.docstore.engine
    with engine.begin() as conn:
        for i in range(0, len(rows), 5000):
            conn.execute(attempts.insert(), rows[i:i + 5000])
    wrong_counts = defaultdict(int)
    for r in rows:
        if not r["correct"]:
            wrong_counts[(r["user"], r["question_id"])] += 1
    notebook = [{"learner": learner, "question_id": qid, "user": user, "departments": [dept],
                 "topic": questions[qid].topic, "line": questions[qid].line, "chosen": chosen,
                 "wrong": wrong_counts[(learner, qid)], "streak": 0, "first_at": at, "last_at": at, "resolved_at": None}
                for (learner, qid), (correct, chosen, at, dept, user) in last.items() if not correct]
    with engine.begin() as conn:
        for i in range(0, len(notebook), 5000):
            conn.execute(mistakes.insert(), notebook[i:i + 5000])

    made, progress, credits = [], [], []
    for month in range(24):  # two assignments a month, each to one department, most learners finishing
        dept = DEPARTMENTS[month % len(DEPARTMENTS)]
        quiz = quizzes[month % len(quizzes)]
        opened = start + timedelta(days=month * days / 24)
        due = opened + timedelta(days=14)
        with engine.begin() as conn:
            assignment_id = conn.execute(assignments.insert().values(
                title=quiz.title, kind="quiz", ref=quiz.id, departments=[dept], users=[], starts_at=opened, due_at=due,
                hours=1.0, created_by=f"{trainers[dept].user}@{dept}", created_at=opened)).inserted_primary_key[0]
        made.append(assignment_id)
        for user, d, skill in people:
            if d != dept or rng.random() > 0.85:
                continue
            done_at = opened + timedelta(days=rng.uniform(0.5, 13.5))
            score = round(min(1.0, max(0.0, rng.gauss(skill + 0.1, 0.15))), 3)
            progress.append({"assignment_id": assignment_id, "learner": f"{user}@{d}", "user": user, "departments": [d],
                             "answered": [q.id for q in quiz.questions], "correct": round(score * len(quiz.questions)),
                             "score": score, "completed_at": done_at, "delivered_at": opened, "reminded_at": None})
            credits.append({"learner": f"{user}@{d}", "user": user, "departments": [d], "activity": "assignment",
                            "ref": str(assignment_id), "title": quiz.title, "hours": 1.0, "at": done_at})
    for user, dept, _skill in people:
        for day in rng.sample(range(days), k=days // 4):
            at = start + timedelta(days=day, hours=12)
            credits.append({"learner": f"{user}@{dept}", "user": user, "departments": [dept], "activity": "daily",
                            "ref": at.date().isoformat(), "title": f"每日一练 {at.date().isoformat()}", "hours": 0.1,
                            "at": at})
    with engine.begin() as conn:
        for table, items in ((assignment_progress, progress), (hour_credits, credits)):
            for i in range(0, len(items), 5000):
                conn.execute(table.insert(), items[i:i + 5000])
    rebuilt = assistant.training.console.rebuild()
    return {"data_dir": str(data_dir), "learners": learners, "departments": len(DEPARTMENTS),
            "published_questions": len(pool), "attempts": len(rows), "mistakes": len(notebook),
            "assignments": len(made), "assignment_progress": len(progress), "hour_credits": len(credits),
            "rolled_up": rebuilt, "seconds": round(time.perf_counter() - started, 1), "keys": keys,
            "first_assignment": made[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--learners", type=int, default=500)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--per-day", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=2027)
    args = parser.parse_args()
    if args.data_dir.exists() and any(args.data_dir.iterdir()):
        raise SystemExit(f"{args.data_dir} is not empty: give a new folder")
    print(json.dumps(generate(args.data_dir, learners=args.learners, days=args.days, per_day=args.per_day,
                              seed=args.seed), ensure_ascii=False))


if __name__ == "__main__":
    main()
