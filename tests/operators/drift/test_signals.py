"""Refusal and toxicity lexicons (Vietnamese with and without marks, English), features."""

from __future__ import annotations

import math

import pytest

from operators.drift.signals import fold, is_refusal, is_toxic, message_features

REFUSALS = [
    "Xin lỗi, em không thể hỗ trợ yêu cầu này ạ",
    "Rất tiếc, yêu cầu của anh nằm ngoài phạm vi hỗ trợ của em",
    "Tôi không thể cung cấp thông tin cá nhân của khách hàng khác",
    "xin loi, minh khong the tra loi cau hoi nay",
    "Với tư cách là trợ lý AI, em không được phép chia sẻ điều đó",
    "Bên em từ chối yêu cầu này vì vi phạm chính sách",
    "I'm sorry, but I can't help with that.",
    "I cannot provide that information.",
    "I’m unable to assist with this request.",
    "As an AI language model, I don't have opinions.",
    "That request is against our policies.",
]
NOT_REFUSALS = [
    "Dạ đơn hàng của anh đang được giao ạ",
    "Dạ shop không thể giao trong hôm nay, mai shop giao sớm ạ",
    "Sản phẩm được đổi trả trong vòng 7 ngày kể từ khi nhận hàng",
    "Sure, your order has been cancelled.",
    "I can help you with that right away!",
    "Sorry for the delay, your parcel ships tomorrow.",
]
TOXIC = [
    "Đồ ngu, đọc kỹ đi",
    "Hỏi gì mà ngu như bò vậy",
    "cút đi, hỏi lắm thế",
    "vcl hỏi hoài",
    "dm shop lừa đảo",
    "Mày đúng là đồ khốn nạn",
    "Stop asking stupid questions",
    "That is a dumb idea, idiot",
    "what the fuck",
    "Shut up and wait",
]
NOT_TOXIC = [
    # folding would turn these into words of the Vietnamese lexicon
    "Các sản phẩm lớn đều được giao miễn phí",
    "Buổi tối shop mở cửa đến 10h",
    "Anh đi đường nào cũng được ạ",
    "Em đeo thử size M vừa không ạ",
    "Dạ shop cảm ơn anh ạ",
    "Thanks, have a great day",
    "Is this class a good fit?",
]


@pytest.mark.parametrize("text", REFUSALS)
def test_refusals_are_recognised(text: str) -> None:
    assert is_refusal(text)


@pytest.mark.parametrize("text", NOT_REFUSALS)
def test_ordinary_replies_are_not_refusals(text: str) -> None:
    assert not is_refusal(text)


@pytest.mark.parametrize("text", TOXIC)
def test_toxic_texts_are_recognised(text: str) -> None:
    assert is_toxic(text)


@pytest.mark.parametrize("text", NOT_TOXIC)
def test_everyday_words_are_not_toxic(text: str) -> None:
    assert not is_toxic(text)


def test_fold_removes_marks_and_normalises_apostrophes() -> None:
    assert fold("Đơn  HÀNG của Tôi’s") == "don hang cua toi's"


def test_features_tell_languages_and_lengths_apart() -> None:
    vi, en = (
        message_features("Shop ơi còn hàng màu đen không?"),
        message_features("Do you still have the black one?"),
    )
    assert vi.marked_ratio > 0.2 and en.marked_ratio == 0.0
    assert message_features("").log_length == 0.0
    assert math.isclose(message_features("abc").log_length, math.log(4))
