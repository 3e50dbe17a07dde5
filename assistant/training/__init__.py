"""Targeted training for trainers and learners: assignments with deadlines, daily practice,
the wrong-answer notebook, mock exams, training hours (学时) and the trainer console's figures.
Built once by the composition root (``Assistant.training``) over the quiz workflow."""

from __future__ import annotations

from functools import cached_property

from assistant.db import now


class Training:
    def __init__(self, engine, *, quizzes, learners, settings, clock=now) -> None:
        self.engine, self.quizzes, self.learners, self.settings, self.clock = engine, quizzes, learners, settings, clock

    @cached_property
    def assignments(self):
        from assistant.training.assignments import Assignments

        return Assignments(self.engine, quizzes=self.quizzes, settings=self.settings, clock=self.clock)

    @cached_property
    def practice(self):
        from assistant.training.practice import Practice

        return Practice(self.engine, quizzes=self.quizzes, learners=self.learners, settings=self.settings,
                        clock=self.clock)

    @cached_property
    def hours(self):
        from assistant.training.hours import Hours

        return Hours(self.engine)

    @cached_property
    def exams(self):
        from assistant.training.exams import Exams

        return Exams(self.engine, quizzes=self.quizzes, clock=self.clock)

    @cached_property
    def console(self):
        from assistant.training.console import Console

        return Console(self.engine, quizzes=self.quizzes, assignments=self.assignments)
