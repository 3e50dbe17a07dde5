"""Quizzes from the demo corpus, real guiding cases and statutes: every kind, validation,
the LLM generator against a local OpenAI-compatible server, grading, FSRS reviews, the
trainer view, every export parsed back, and the stale flag."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import zipfile
from dataclasses import replace
from datetime import timedelta
from xml.etree import ElementTree as ET

import pytest

from assistant.config import load_settings
from assistant.errors import NotFound
from assistant.index.embedders import HashEmbedder
from assistant.learners import now
from assistant.models import Principal, QuestionType
from assistant.quiz.export import export
from assistant.quiz.validate import validate
from assistant.service import build_assistant
from tests.conftest import CORPUS
from tests.fakes.openai_server import FakeOpenAI
from tests.quiz.conftest import make, texts_of

ADMIN = Principal.local_admin()


def test_a_quiz_on_one_case_has_valid_mixed_questions(world):
    quiz = world.quizzes.make(principal=ADMIN, case="检例第41号")
    assert 3 <= len(quiz.questions) <= 5 and quiz.status == "draft"
    kinds = {q.kind for q in quiz.questions}
    assert {"charge", "decision", "key_point"} <= kinds
    texts = texts_of(world, quiz)
    for q in quiz.questions:
        assert validate(q, texts) == [], q.stem
        assert all(c.doc_id == "SPP-检例第41号" for c in q.citations)
    charge = next(q for q in quiz.questions if q.kind == "charge")
    assert charge.options[charge.answer[0]] == "组织、领导传销活动罪" and "传销活动罪" not in charge.stem
    assert len(set(charge.options)) == 4


def test_decision_questions_name_what_the_procuratorate_did(world):
    quiz = world.quizzes.make(principal=ADMIN, case="教学案例第1号")
    decision = next(q for q in quiz.questions if q.kind == "decision")
    assert decision.options[decision.answer[0]] == "不批准逮捕" and "不批准逮捕" not in decision.stem


def test_every_case_kind_appears_across_the_guiding_cases(world):
    kinds, types = set(), set()
    for case in ("检例第41号", "检例第45号", "检例第1号", "检例第60号", "检例第90号"):
        for q in world.quizzes.make(principal=ADMIN, case=case, n=8).questions:
            kinds.add(q.kind)
            types.add(q.type)
    assert {"charge", "decision", "cloze", "key_point", "key_points"} <= kinds, kinds
    assert {QuestionType.single, QuestionType.multi, QuestionType.true_false} <= types


def test_statute_questions_draw_distractors_from_the_same_chapter(world):
    quiz = world.quizzes.make(principal=ADMIN, topic="刑法第二十条 正当防卫", n=6)
    statute = [q for q in quiz.questions if q.kind in ("provision", "article")]
    assert statute
    chunks = world.docstore.get_chunks([q.citations[0].chunk_id for q in statute])
    for q in statute:
        cited = chunks[q.citations[0].chunk_id]
        assert cited.source_id.startswith("刑法#")
        if q.kind == "article":
            assert all(o.startswith("《刑法》第") for o in q.options)
            assert q.options[q.answer[0]] == re.sub(r"第[一二三四五六七八九十]+款$", "", cited.citation)


def test_false_statements_change_one_word_and_never_insert_a_negation(world):
    from assistant.quiz.cues import NEGATION, inserted_negation

    quiz = world.quizzes.make(principal=ADMIN, case="检例第45号", n=8)
    statements = [q for q in quiz.questions if q.kind == "key_point"]
    assert statements
    for q in statements:
        statement = q.stem.split("认为，", 1)[1].rstrip("。；;，,")
        quote = q.citations[0].quote.rstrip("。；;，,")
        if q.answer == [0]:
            assert statement == quote
        else:
            assert statement != quote and "原文为" in q.explanation
            assert not inserted_negation(statement, quote)
            assert len(NEGATION.findall(statement)) <= len(NEGATION.findall(quote))


def test_unknown_case_and_restricted_material(world):
    with pytest.raises(NotFound):
        world.quizzes.make(principal=ADMIN, case="检例第9999号")
    outsider = Principal(user="x", role="learner", departments=("民事检察部",))
    quiz = world.quizzes.make(principal=outsider, topic="职务犯罪 监察机关移送 留置", n=5)
    assert all("职务犯罪案件审查要点" not in c.title for q in quiz.questions for c in q.citations)


# -- validation -------------------------------------------------------------------------------


def unlike(q):
    """A crime the question does not offer. Its wrong options are drawn afresh for every quiz, and
    one of them put in the answer's place would make a duplicate, not an unsupported answer."""
    return next(c for c in ("抢劫罪", "盗窃罪", "故意杀人罪", "诈骗罪") if c not in q.options)


@pytest.fixture(scope="module")
def sample(world):
    quiz = world.quizzes.make(principal=ADMIN, case="检例第41号")
    q = next(q for q in quiz.questions if q.kind == "charge")
    return q, texts_of(world, quiz)


@pytest.mark.parametrize(("change", "problem"), [
    (lambda q: replace(q, answer=[0, 1]), "correct options"),
    (lambda q: replace(q, options=[q.options[0]] * 4), "not distinct"),
    (lambda q: replace(q, options=[*q.options[:3], "以上都是"]), "all/none of the above"),
    (lambda q: replace(q, citations=[replace(q.citations[0], quote="这句话资料里没有")]), "quote not found"),
    (lambda q: replace(q, options=[unlike(q) if i in q.answer else o for i, o in enumerate(q.options)]),
     "not supported"),
    (lambda q: replace(q, stem=q.stem + q.options[q.answer[0]]), "gives the answer away"),
    (lambda q: replace(q, answer=[7]), "outside the options"),
    (lambda q: replace(q, citations=[]), "no citation"),
])
def test_validation_catches(sample, change, problem):
    question, texts = sample
    assert validate(question, texts) == []
    assert any(problem in p for p in validate(change(question), texts))


def test_a_true_false_with_the_wrong_verdict_fails(world):
    quiz = world.quizzes.make(principal=ADMIN, case="检例第45号", n=8)
    q = next(q for q in quiz.questions if q.kind == "key_point")
    flipped = replace(q, answer=[1 - q.answer[0]])
    assert any("true/false" in p for p in validate(flipped, texts_of(world, quiz)))


# -- the LLM generator --------------------------------------------------------------------------


def test_llm_questions_are_validated_repaired_or_dropped(world, tmp_path):
    server = FakeOpenAI().start()
    try:
        def good(request):
            passage = request["messages"][-1]["content"].split("）：\n", 1)[1]
            sentence = re.split(r"(?<=[。；])", passage)[0]
            return json.dumps({"type": "true_false", "stem": "判断：" + sentence, "options": ["正确", "错误"],
                               "answer": [0], "explanation": "见资料", "quote": sentence, "difficulty": 1},
                              ensure_ascii=False)
        bad = json.dumps({"type": "single", "stem": "下列哪项正确？", "options": ["甲", "甲", "乙"], "answer": [0],
                          "explanation": "", "quote": "资料里没有这句", "difficulty": 2}, ensure_ascii=False)
        server.then(bad).then(good).then(bad).then(bad)
        assistant = build_assistant(load_settings(
            data_dir=world.settings.data_dir, embedder={"name": "hash-64"},
            llm={"provider": "openai", "base_url": server.base_url, "model": "m", "timeout_s": 5}),
            embedder=HashEmbedder(64))
        quiz = assistant.quizzes.make(principal=ADMIN, topic="传销 入门费 发展下线", n=3)
    finally:
        server.stop()
    llm = [q for q in quiz.questions if q.generator == "llm"]
    assert len(llm) == 1 and llm[0].type is QuestionType.true_false  # the repaired one
    assert any("dropped after one repair" in d and "not distinct" in d for d in quiz.dropped)
    assert server.requests[0]["response_format"] == {"type": "json_object"}
    assert '"required"' in server.requests[0]["messages"][-1]["content"]  # the JSON schema is in the prompt
    repair = server.requests[1]["messages"][-1]["content"]
    assert "上一次给出的题目没有通过校验" in repair and "options are not distinct" in repair
    assert len(quiz.questions) == 3  # templates filled the place of the dropped one


# -- grading, reviews, progress ---------------------------------------------------------------


def test_a_quiz_is_graded_on_the_options_it_showed(world):
    """Each quiz draws its wrong options afresh, and a question is stored once by its id: so the id
    covers all a learner sees, or a later quiz on the same case is graded on an earlier one's key."""
    learner = Principal(user="wang", role="learner", departments=("第一检察部",))
    charges = set()
    for _ in range(6):
        quiz = world.quizzes.make(principal=ADMIN, case="检例第41号", n=8)
        world.quizzes.publish(quiz.id, principal=ADMIN)
        assert [(q.stem, q.options, q.answer) for q in world.quizzes.get(quiz.id, principal=learner).questions] \
            == [(q.stem, q.options, q.answer) for q in quiz.questions]
        for q in quiz.questions:
            assert world.quizzes.grade(q.id, q.answer, principal=learner, quiz_id=quiz.id).correct, q.stem
        charges.add(tuple(next(q for q in quiz.questions if q.kind == "charge").options))
    assert len(charges) > 1  # the draws did differ, so the check above had something to catch


def test_grading_records_attempts_and_schedules_reviews(world):
    quiz = world.quizzes.make(principal=ADMIN, case="检例第45号")
    learner = Principal(user="li", role="learner", departments=("第一检察部",))
    t0 = now()
    first, second = quiz.questions[:2]
    wrong = [i for i in range(len(first.options)) if i not in first.answer][:1]
    grade = world.learners.record(learner=learner.learner, departments=learner.departments, question=first,
                                  chosen=wrong, at=t0)
    assert not grade.correct and grade.answer == first.answer and grade.citations
    with pytest.raises(NotFound):  # a draft is the trainers' until published
        world.quizzes.grade(second.id, second.answer, principal=learner, quiz_id=quiz.id)
    world.quizzes.publish(quiz.id, principal=ADMIN)
    ok = world.quizzes.grade(second.id, second.answer, principal=learner, quiz_id=quiz.id)
    assert ok.correct
    # a wrong answer comes back within minutes, a right one later (FSRS learning steps)
    assert world.learners.due(learner.learner, at=t0 + timedelta(minutes=5)) == [first.id]
    assert len(world.learners.due(learner.learner, at=t0 + timedelta(days=30))) == 2
    progress = world.quizzes.progress(principal=learner)
    assert (progress["attempts"], progress["correct"]) == (2, 1)
    assert progress["topics"] and all(0 < t["mastery"] < 1 for t in progress["topics"])
    assert progress["lines"][0]["line"] == first.line


def test_the_trainer_sees_the_group(world):
    quiz = world.quizzes.make(principal=ADMIN, case="检例第60号")
    q = quiz.questions[0]
    for user, right in (("a", True), ("b", False), ("c", False)):
        world.learners.record(learner=f"{user}@公诉二组", departments=("公诉二组",), question=q,
                              chosen=q.answer if right else [i for i in range(len(q.options)) if i not in q.answer][:1])
    world.learners.record(learner="other@别的组", departments=("别的组",), question=q, chosen=q.answer)
    view = world.learners.group("公诉二组")
    assert [row["user"] for row in view["learners"]] == ["a", "b", "c"]
    assert view["hardest_questions"][0]["question_id"] == q.id
    assert view["hardest_questions"][0]["correct_rate"] == pytest.approx(1 / 3, abs=0.001)
    assert view["weakest_topics"][0]["attempts"] == 3


# -- exports ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mixed(world):
    quiz = world.quizzes.make(principal=ADMIN, case="检例第45号", n=6)
    assert {q.type for q in quiz.questions} >= {QuestionType.single, QuestionType.true_false}
    return quiz


def parse_gift(text: str) -> list[dict]:
    """A small GIFT reader: title, stem, and per answer its mark (=, ~, ~%n%)."""
    out = []
    for block in re.split(r"\n\s*\n", text):
        m = re.match(r"::(.*?)::(.*?)\s\{(.*)\}\s*$", block.strip(), re.S)
        if not m:
            continue
        body = m.group(3).split("####")[0].strip()
        if body in ("TRUE", "FALSE"):
            out.append({"title": m.group(1), "stem": m.group(2), "truth": body == "TRUE"})
            continue
        answers = re.findall(r"(=|~%-?[\d.]+%|~)((?:\\.|[^=~\\])*)", body)
        out.append({"title": m.group(1), "stem": m.group(2),
                    "answers": [(mark, re.sub(r"\\(.)", r"\1", value).strip()) for mark, value in answers]})
    return out


def test_gift_parses_back(mixed):
    parsed = parse_gift(export(mixed, "gift").decode())
    assert len(parsed) == len(mixed.questions)
    for item, q in zip(parsed, mixed.questions, strict=True):
        if q.type is QuestionType.true_false:
            assert item["truth"] == (q.answer == [0])
        else:
            assert [v for _, v in item["answers"]] == q.options
            right = [i for i, (mark, _) in enumerate(item["answers"]) if mark == "=" or (mark.startswith("~%") and not mark.startswith("~%-"))]
            assert right == q.answer


def test_moodle_xml_parses_back(mixed):
    root = ET.fromstring(export(mixed, "moodle"))
    items = root.findall("question[@type='multichoice']") + root.findall("question[@type='truefalse']")
    assert len(items) == len(mixed.questions)
    by_name = {q.find("name/text").text: q for q in items}
    for i, q in enumerate(mixed.questions, start=1):
        node = by_name[f"{mixed.id}-{i}"]
        assert node.find("questiontext/text").text == q.stem
        fractions = [float(a.get("fraction")) for a in node.findall("answer")]
        assert [i for i, f in enumerate(fractions) if f > 0] == q.answer


def test_anki_package_parses_back(mixed, tmp_path):
    path = tmp_path / "quiz.apkg"
    path.write_bytes(export(mixed, "anki"))
    with zipfile.ZipFile(path) as z:
        z.extract("collection.anki2", tmp_path)
    with sqlite3.connect(tmp_path / "collection.anki2") as db:
        notes = [row[0].split("\x1f") for row in db.execute("select flds from notes")]
    assert sorted(n[-1] for n in notes) == sorted(q.id for q in mixed.questions)
    assert all(n[0] for n in notes)


def test_json_and_markdown(mixed):
    from assistant.models import Question

    data = json.loads(export(mixed, "json"))
    assert [Question.from_dict(q) for q in data["questions"]] == mixed.questions
    handout = export(mixed, "md").decode()
    assert "# 答案与解析" in handout and all(q.citations[0].label in handout for q in mixed.questions)
    assert handout.index("# 答案与解析") > handout.index(mixed.questions[-1].options[-1])


def test_unknown_export_format(mixed):
    from assistant.errors import JianxueError

    with pytest.raises(JianxueError, match="unknown export format"):
        export(mixed, "docx")


# -- stale ---------------------------------------------------------------------------------------


def test_a_published_question_whose_source_changed_is_stale(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS / "cases", corpus)
    assistant = make(tmp_path)
    assistant.ingest([corpus])
    quiz = assistant.quizzes.make(principal=ADMIN, case="教学案例第4号")
    assistant.quizzes.publish(quiz.id, principal=ADMIN)
    assert not any(q.stale for q in assistant.quizzes.get(quiz.id, principal=ADMIN).questions)
    path = next(corpus.glob("教学案例04-*"))
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("血液酒精含量刚达到醉酒标准", "血液酒精含量略高于醉酒标准"), encoding="utf-8")
    assistant.ingest([corpus])
    again = assistant.quizzes.get(quiz.id, principal=ADMIN)
    stale = [q for q in again.questions if q.stale]
    assert stale and all(q.status == "published" for q in again.questions)
    current = assistant.docstore.get_chunks([c.chunk_id for q in again.questions for c in q.citations])
    for q in again.questions:
        assert q.stale == any(c.chunk_id not in current for c in q.citations)
