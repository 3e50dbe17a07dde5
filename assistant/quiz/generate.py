"""Question generators, by responsibility: source.py (what questions are made from),
vocabulary.py (the legal words), distractors.py (false statements and wrong options),
cues.py (surface-cue solvers and the cue check), templates.py (the template generator) and
llm_questions.py (the model's). This module keeps the names other code imports."""

from assistant.quiz.distractors import Falsehood, falsehoods, remove_negation, substitutions
from assistant.quiz.llm_questions import QUESTION_SCHEMA, LLMGenerator
from assistant.quiz.source import (
    FACT_SECTIONS,
    KEY_SECTIONS,
    TEACHING_SECTIONS,
    Pool,
    Source,
    question_id,
    source_hash,
)
from assistant.quiz.templates import TemplateGenerator, case_charge, case_decision
from assistant.quiz.vocabulary import (
    DECISION_NAMES,
    DECISIONS,
    NEGATIONS,
    TRUE_FALSE,
    crime_groups,
    legal_terms,
)

__all__ = [
    "DECISIONS", "DECISION_NAMES", "FACT_SECTIONS", "KEY_SECTIONS", "NEGATIONS", "QUESTION_SCHEMA", "TEACHING_SECTIONS",
    "TRUE_FALSE", "Falsehood", "LLMGenerator", "Pool", "Source", "TemplateGenerator", "case_charge", "case_decision",
    "crime_groups", "falsehoods", "legal_terms", "question_id", "remove_negation", "source_hash", "substitutions",
]
