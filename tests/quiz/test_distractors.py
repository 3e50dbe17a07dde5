"""Distractors on real guiding cases (../shared/data): false statements without an inserted
negation, decisions of the same stage, periods, subjects and crimes exchanged, statements
borrowed from another case of the same line; the cue check and the cue solvers; the LLM
path held to the same check."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from assistant.llm import FunctionModel
from assistant.models import Kind, Principal, Question, QuestionType
from assistant.quiz import cues
from assistant.quiz.distractors import falsehoods, remove_negation, statements, substitutions
from assistant.quiz.generate import LLMGenerator, Pool, TemplateGenerator
from assistant.quiz.validate import validate
from assistant.quiz.vocabulary import STAGES

ADMIN = Principal.local_admin()


@pytest.fixture(scope="module")
def cases(world):
    return [s for s in world.quizzes.sources(principal=ADMIN, limit=10**6) if s.kind is Kind.case and s.chunks]


@pytest.fixture(scope="module")
def texts(cases):
    return {c.chunk_id: c.text for s in cases for c in s.chunks}


def case(cases, number):
    return next(s for s in cases if s.case_no == number)


def whole(source):
    return "\n".join(c.text for c in source.chunks)


def test_no_false_statement_of_any_case_is_made_by_inserting_a_negation(cases):
    made = methods = 0
    seen = set()
    for source in cases:
        for _, sentence in statements(source):
            for false in falsehoods(sentence, context=whole(source)):
                made += 1
                seen.add(false.method)
                assert not cues.inserted_negation(false.text, sentence), (sentence, false)
                assert len(cues.NEGATION.findall(false.text)) <= len(cues.NEGATION.findall(sentence))
                methods += false.method != "negation_removed"
    assert made > 500 and methods / made > 0.6
    assert {"subject", "word", "period", "decision", "crime", "negation_removed"} <= seen


def test_a_true_false_pair_whose_false_member_has_no_inserted_negation(cases, texts):
    generator = TemplateGenerator(Pool(cases=cases), seed="pair")
    source = case(cases, "检例第45号")
    questions = list(generator.true_false(source))
    false = next(q for q in questions if q.answer == [1])
    quote = false.citations[0].quote.rstrip("。；;，,")
    said = cues.statement(false)
    assert said != quote and not cues.inserted_negation(said, quote)
    assert validate(false, texts) == []
    true = replace(false, stem=false.stem.replace(said, quote), answer=[0])  # its true twin
    assert validate(true, texts) == []


def test_a_negation_is_removed_from_a_statement_that_has_one(cases):
    found = []
    for source in cases:
        for _, sentence in statements(source):
            if (removed := remove_negation(sentence)) is not None:
                found.append((sentence, removed))
    assert len(found) > 20
    for sentence, removed in found:
        assert removed.method == "negation_removed" and removed.was.startswith(("不", "无"))
        at = sentence.find(removed.was)
        assert removed.text == sentence[:at] + removed.now + sentence[at + len(removed.was):]
        assert len(cues.NEGATION.findall(removed.text)) < len(cues.NEGATION.findall(sentence))


def test_a_period_is_changed_where_the_text_has_one(cases):
    source = case(cases, "检例第70号")
    sentence = next(s for _, s in statements(source) if "三年以下有期徒刑" in s)
    period = next(f for f in substitutions(sentence, context=whole(source)) if f.method == "period")
    assert period.was == "三" and period.now != "三" and f"{period.now}年以下有期徒刑" in period.text
    assert period.text.replace(f"{period.now}年以下", "三年以下", 1) == sentence


def test_the_subject_and_a_confusable_crime_are_exchanged(cases):
    source = case(cases, "检例第40号")
    text = whole(source)
    subjects = [f for _, s in statements(source) for f in substitutions(s, context=text) if f.method == "subject"]
    assert subjects and all(f.was in ("检察机关", "人民检察院", "人民法院", "公安机关") for f in subjects)
    assert all(f.now in ("公安机关", "审判机关", "人民法院", "人民检察院") and f.now != f.was for f in subjects)
    crimes = [f for _, s in statements(source) for f in substitutions(s, context=text) if f.method == "crime"]
    assert crimes and crimes[0].was == "集资诈骗罪"
    assert crimes[0].now.endswith("罪") and crimes[0].now not in text  # a crime this case never names


def test_decision_options_are_decisions_of_the_same_stage(cases, texts):
    generator = TemplateGenerator(Pool(cases=cases), seed="stage")
    stage_of = {name: stage for stage, names in STAGES.items() for name, _ in names}
    mentions = {name: mention for names in STAGES.values() for name, mention in names}
    questions = [q for s in cases for q in generator.decision(s)]
    assert len(questions) > 80
    same = form = total = some = 0
    dropped = 0
    for q in questions:
        problems = validate(q, texts)
        assert all(p.startswith("cue:") for p in problems), problems
        dropped += bool(problems)
        right = q.options[q.answer[0]]
        source = next(s for s in cases if s.doc_id == q.citations[0].doc_id)
        wrong = [o for i, o in enumerate(q.options) if i not in q.answer]
        some += any(stage_of[o] == stage_of[right] for o in wrong)
        for option in wrong:
            total += 1
            assert option in stage_of and not re.search(mentions[option], whole(source))
            same += stage_of[option] == stage_of[right]
            form += ("不" in option) == ("不" in right)
    # the stage's vocabulary runs short where the case mentions most of it; then form (a 不 or not)
    # comes before the stage, as a lone 不起诉 among three without 不 would answer itself
    assert same / total > 0.5 and some / len(questions) > 0.85
    assert any(all(stage_of[o] == stage_of[q.options[q.answer[0]]] for o in q.options) for q in questions)
    assert form / total > 0.9 and dropped <= len(questions) * 0.05
    prosecuted = next(q for q in questions if q.options[q.answer[0]] == "提起公诉")
    assert all("不" not in o for o in prosecuted.options)  # not three 不起诉 around the one without 不


def test_several_answers_borrow_a_statement_of_another_case_of_the_line(cases, texts):
    generator = TemplateGenerator(Pool(cases=cases), seed="borrow")
    found = None
    for source in cases:
        for q in generator.key_points(source):
            if "并非本案的观点" in q.explanation:
                found = (source, q)
                break
        if found:
            break
    assert found is not None
    source, q = found
    assert validate(q, texts) == []
    foreign = [c for c in q.citations if c.doc_id != source.doc_id]
    assert foreign
    for c in foreign:
        other = next(s for s in cases if s.doc_id == c.doc_id)
        assert other.line == source.line
        option = c.quote.rstrip("。；;，,")
        assert option in q.options and q.options.index(option) not in q.answer
        assert c.label in q.explanation


def test_the_cue_check_drops_an_inserted_negation_and_a_negation_tell(cases, texts):
    generator = TemplateGenerator(Pool(cases=cases), seed="pair")
    true = next(q for s in cases for q in generator.true_false(s) if q.answer == [0] and "应当" in cues.statement(q))
    said = cues.statement(true)
    at = said.find("应当")
    inserted = replace(true, stem=true.stem.replace(said, said[:at] + "不" + said[at:]), answer=[1])
    problems = validate(inserted, texts)
    assert any(p.startswith("cue:") and "negation put in" in p for p in problems)
    multi = next(q for s in cases for q in generator.key_points(s) if validate(q, texts) == []
                 and not any(cues.NEGATION.search(q.options[i]) for i in q.answer))
    options = [o if i in multi.answer else "不" + o for i, o in enumerate(multi.options)]
    told = replace(multi, options=options)
    assert any("only ones without a negation" in p for p in validate(told, texts))


def test_cue_solvers_find_a_tell_and_score_chance_without_one():
    def single(options, answer, stem="下列哪一项正确？"):
        return Question(id="q", type=QuestionType.single, stem=stem, options=options, answer=[answer],
                        explanation="", citations=[], difficulty=1, topic="", line="", kind="decision")

    told = single(["提起公诉", "不批准逮捕", "酌定不起诉", "存疑不起诉"], 0)
    assert cues.score(cues.negation, told) == 1.0 and cues.score(cues.odd_one_out, told) == 1.0
    assert cues.tells(told.options, told.answer)
    plain = single(["提起公诉", "批准逮捕", "追加起诉", "变更起诉"], 0)
    assert cues.score(cues.negation, plain) == pytest.approx(0.25) and not cues.tells(plain.options, plain.answer)
    assert cues.score(cues.length, plain) == pytest.approx(0.25)
    echoed = single(["集资诈骗罪", "盗窃罪", "抢劫罪", "故意伤害罪"], 0, stem="被告人以高息集资诈骗投资人")
    assert cues.score(cues.stem_overlap, echoed) == 1.0 and cues.echo(echoed.stem, echoed.options, [0])
    rows = cues.measure([told, plain])
    assert rows["all"]["n"] == 2 and rows["decision"]["negation"] == pytest.approx(0.625)


def test_the_llm_path_is_held_to_the_cue_check(cases, texts):
    from assistant import prompts

    source, chunk, sentence = next((s, c, x) for s in cases for c in s.chunks_of(("要旨",))
                                   for x in re.split(r"(?<=[。；])", c.text) if "应当" in x and "可以" not in x)
    negated = sentence.replace("应当", "不应当", 1)
    swapped = sentence.replace("应当", "可以", 1)

    def reply(statement, truth):
        return json.dumps({"type": "true_false", "stem": "判断：" + statement.rstrip("。；"),
                           "options": ["正确", "错误"], "answer": [0 if truth else 1], "explanation": "见要旨",
                           "quote": sentence, "difficulty": 1}, ensure_ascii=False)

    replies = iter([reply(negated, False), reply(swapped, False)])
    model = FunctionModel(lambda messages: next(replies))
    generator = LLMGenerator(model, lambda q, _s: validate(q, texts), prompt=prompts.QUIZ, repair=prompts.QUIZ_REPAIR)
    kept = list(generator.candidates(source))
    assert len(kept) == 1 and cues.statement(kept[0]) == swapped.rstrip("。；") and kept[0].answer == [1]
    first, second = (m[-1].content for m in model.seen)
    assert "不要" in first and "插入" in first  # the prompt asks for false statements without an inserted 不
    assert "cue:" in second and "negation put in" in second  # the repair names the cue


def test_a_statement_is_borrowed_only_from_a_case_the_learner_may_read(tmp_path, case_records):
    from tests.conftest import DEPARTMENTS, marker, write_jsonl, write_restricted_cases
    from tests.quiz.conftest import make

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_restricted_cases(corpus)
    write_jsonl(corpus / "cases.jsonl", [r for r in case_records if r["case_no"] in ("检例第45号", "检例第47号")])
    assistant = make(tmp_path)
    assistant.ingest([corpus])
    for dept in DEPARTMENTS:
        learner = Principal(user="x", role="learner", departments=(dept,))
        sources = assistant.quizzes.sources(principal=learner, case="检例第45号")
        siblings = assistant.quizzes.siblings(sources, principal=learner)
        seen = "".join(c.text for s in siblings for c in s.chunks)
        assert marker(dept) in seen
        assert all(marker(other) not in seen for other in DEPARTMENTS if other != dept)
        quiz = assistant.quizzes.make(principal=learner, case="检例第45号", n=8)
        shown = json.dumps([q.to_dict() for q in quiz.questions], ensure_ascii=False)
        assert all(marker(other) not in shown for other in DEPARTMENTS if other != dept)
