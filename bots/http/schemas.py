"""Request bodies (responses are the core's own ``to_dict()`` shapes)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from assistant.models import Line

KindName = Literal["statute", "interpretation", "case", "material", "qa"]


class AskBody(BaseModel):
    question: str = Field(..., min_length=1, max_length=2000, description="The question, in plain Chinese.")
    history: list[dict] = Field(default_factory=list, max_length=20,
                                description="Earlier turns ({question, query, sources}) for follow-ups.")
    line: Line | None = Field(None, description="Only material of this prosecution line.")


class SearchBody(BaseModel):
    query: str = Field(..., min_length=1, max_length=2000)
    k: int = Field(8, ge=1, le=50)
    kinds: list[KindName] = Field(default_factory=list)
    lines: list[Line] = Field(default_factory=list)


class QuizBody(BaseModel):
    topic: str | None = Field(None, max_length=200)
    case: str | None = Field(None, max_length=200)
    line: Line | None = None
    n: int = Field(5, ge=1, le=20)


class AnswerBody(BaseModel):
    question_id: str = Field(..., min_length=1, max_length=64)
    chosen: list[int] = Field(..., min_length=1, max_length=6)


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None


class ChatBody(BaseModel):
    model: str = "jianxue"
    messages: list[ChatMessage] = Field(..., min_length=1, max_length=50)
    stream: bool = False
