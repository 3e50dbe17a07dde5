"""The LLM generator: asks a configured chat model for one question per passage as JSON.
Its prompt (prompts.QUIZ) asks for the properties the template questions have — false
statements and wrong options without a surface tell — and every reply goes through the same
validation, cue check included (validate.py); a failing one is sent back once with the
problems, then dropped with the reason recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator

from assistant.llm import ask
from assistant.models import Chunk, Question, QuestionType
from assistant.quiz.source import KEY_SECTIONS, Source, cite, question_id, source_hash

QUESTION_SCHEMA = {
    "title": "quiz_question",
    "description": "一道依据所给资料出的检察业务选择题",
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["single", "multi", "true_false", "case_analysis"]},
        "stem": {"type": "string", "description": "题干"},
        "options": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 6},
        "answer": {"type": "array", "items": {"type": "integer"}, "description": "正确选项的序号（从0开始）"},
        "explanation": {"type": "string"},
        "quote": {"type": "string", "description": "资料中支持答案的原文（逐字摘录）"},
        "difficulty": {"type": "integer", "minimum": 1, "maximum": 3},
    },
    "required": ["type", "stem", "options", "answer", "explanation", "quote", "difficulty"],
}


class LLMGenerator:
    """Asks the chat model for one question per passage; every reply is validated, repaired once
    (the validation errors go back to the model) or dropped with the reason recorded."""

    name = "llm"

    def __init__(self, model, validate, *, prompt: str, repair: str) -> None:
        self.model = model
        self.validate = validate
        self.prompt = prompt
        self.repair = repair
        self.dropped: list[str] = []

    def candidates(self, source: Source) -> Iterator[Question]:
        chunk = (source.chunks_of(KEY_SECTIONS) or source.chunks)[0]
        request = self.prompt.format(label=chunk.citation, text=chunk.text,
                                     schema=json.dumps(QUESTION_SCHEMA, ensure_ascii=False))
        problems: list[str] = []
        for attempt in range(2):
            message = request if attempt == 0 else self.repair.format(request=request, problems="；".join(problems))
            try:
                data = self.model.complete_json(ask(message))
            except Exception as exc:  # noqa: BLE001 - a model failure drops the question, never the quiz
                self.dropped.append(f"{chunk.citation}: the model failed ({type(exc).__name__})")
                return
            question = _from_reply(data, source, chunk) if isinstance(data, dict) else None
            problems = ["not a JSON object with the required fields"] if question is None else self.validate(question,
                                                                                                          source)
            if not problems:
                yield question
                return
        self.dropped.append(f"{chunk.citation}: dropped after one repair: {'；'.join(problems)}")


def _from_reply(data: dict, source: Source, chunk: Chunk) -> Question | None:
    try:
        qtype = QuestionType(str(data["type"]))
        options = [str(o).strip() for o in data["options"]]
        answer = sorted({int(i) for i in data["answer"]})
        quote = str(data["quote"]).strip()
        return Question(
            id=question_id(source.doc_id, "llm", str(data["stem"]).strip(), options, answer), type=qtype,
            stem=str(data["stem"]).strip(),
            options=options, answer=answer, explanation=str(data.get("explanation", "")).strip(),
            citations=[cite(chunk, quote)], difficulty=max(1, min(3, int(data.get("difficulty", 2)))),
            topic=source.title, line=source.line, kind="llm", source_hash=source_hash([chunk]), generator="llm",
        )
    except (KeyError, TypeError, ValueError):
        return None
