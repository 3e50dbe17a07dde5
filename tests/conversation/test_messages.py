import pytest

from assistant.conversation.messages import (
    Button,
    Choice,
    QuestionCards,
    answer_action,
    parse_answer_action,
    split_text,
    utf8_bytes,
)


def test_split_keeps_sentences_with_their_labels_within_a_byte_limit():
    answer = "正当防卫明显超过必要限度造成重大损害的，应当负刑事责任。[1]但是应当减轻或者免除处罚。[1][2]\n" * 6
    pieces = split_text(answer, 120, measure=utf8_bytes)
    assert len(pieces) > 1
    assert all(utf8_bytes(p) <= 120 for p in pieces)
    assert "".join(pieces).replace("\n", "") == answer.replace("\n", "")
    for piece in pieces:  # no piece starts with a label torn from its sentence
        assert not piece.startswith("[")


def test_split_cuts_inside_a_sentence_only_when_it_is_longer_than_the_limit():
    long_sentence = "甲" * 100 + "。"
    pieces = split_text("短句。" + long_sentence, 30)
    assert all(len(p) <= 30 for p in pieces)
    assert pieces[0] == "短句。"
    assert "".join(pieces) == "短句。" + long_sentence


def test_short_text_is_one_piece():
    assert split_text("一句话。[1]", 4096) == ["一句话。[1]"]


def test_answer_actions_round_trip_and_reject_other_data():
    assert parse_answer_action(answer_action("q1x", "AC")) == ("q1x", "AC")
    assert parse_answer_action("ans:q1x:AZ") is None
    assert parse_answer_action("src") is None
    choice = Choice("q1x", 1, 5, "题干", ("甲", "乙", "丙"), False)
    assert parse_answer_action(choice.action(2)) == ("q1x", "C")
    assert "C. 丙" in choice.lettered()


def test_button_actions_are_bounded_ascii():
    with pytest.raises(ValueError):
        Button("来源", "x" * 65)
    with pytest.raises(ValueError):
        Button("来源", "来源")


def test_a_label_after_a_closing_quote_stays_with_its_sentence():
    answer = "《刑法》第二十条规定：“正当防卫不负刑事责任。”[1]" * 3
    pieces = split_text(answer, 40)
    assert all(p.endswith("[1]") for p in pieces)
    assert "".join(pieces) == answer


def test_a_question_card_is_given_back_once_to_its_own_member_and_the_oldest_are_forgotten():
    cards = QuestionCards(keep=2)
    cards.sent("q1", "alice", {"card": 1})
    assert cards.pressed(answer_action("q1", "B"), "carol") is None  # not Carol's card
    assert cards.pressed("src:q1", "alice") is None  # not an answer
    assert cards.pressed(answer_action("q1", "B"), "alice") == ({"card": 1}, "B")
    assert cards.pressed(answer_action("q1", "A"), "alice") is None  # given back once
    for ref in ("q2", "q3", "q4"):
        cards.sent(ref, "alice", ref)
    assert cards.pressed(answer_action("q2", "A"), "alice") is None  # only the newest two are kept
    assert cards.pressed(answer_action("q4", "A"), "alice") == ("q4", "A")
