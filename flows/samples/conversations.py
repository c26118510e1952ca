"""Generate the bundled pipeline sample: coherent customer-support conversations.

    python -m flows.samples.conversations --out flows/samples/pipeline_sample.jsonl

Each conversation is about one topic (order status, cancelling, shipping fees, returns,
size exchange, payment, warranty, vouchers, store hours, login/OTP, VAT invoices, stock,
delivery address), in Vietnamese or English, between a customer and a shop's chatbot,
sometimes handed over to a human agent. Conversations span two days of event time; some
resume after a long pause, so the index sees them as several segments. The lines mix Zalo
OA events, partner webhooks and CSV rows over four tenants, with the noise of a live
stream: redeliveries, partner retries, CSV twins of Zalo messages, events shuffled within
the lateness bound, stragglers, malformed inputs of every reject reason, feedback on bot
replies and PII in customer messages. `SampleExpected` says where every line must end.
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson

from flows.samples.generate import Expected
from operators.common.text import fold_diacritics

START_MS = 1_714_496_400_000  # 2024-05-01T00:00:00+07:00
DAYS = 2
SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
SEGMENT_GAP_MS = 30 * MINUTE
LOCAL = timezone(timedelta(hours=7))

TENANT_WEIGHTS = {"acme": 0.40, "globex": 0.27, "initech": 0.20, "umbrella": 0.13}
ConvKey = tuple[str, str]  # (tenant, conversation_id)


# --- the shops --------------------------------------------------------------------


@dataclass(frozen=True)
class Product:
    vi: str
    en: str
    price: int
    sizes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Shop:
    name: str
    platforms: tuple[str, ...]
    products: tuple[Product, ...]
    address_vi: str
    address_en: str
    topics: dict[str, float]


_CLOTHES = ("S", "M", "L", "XL")
_SHOES = ("38", "39", "40", "41", "42", "43")
_COMMON_TOPICS = {
    "order_status": 14,
    "cancel_order": 8,
    "shipping_fee": 10,
    "return_refund": 8,
    "payment": 8,
    "promotion_voucher": 7,
    "store_info": 5,
    "account_login": 5,
    "invoice_vat": 4,
    "stock": 8,
    "change_address": 5,
}
SHOPS = {
    "acme": Shop(
        "ACME Fashion",
        ("shopee", "lazada", "website"),
        (
            Product("Áo thun cotton basic", "basic cotton T-shirt", 199_000, _CLOTHES),
            Product("Áo sơ mi Oxford", "Oxford shirt", 349_000, _CLOTHES),
            Product(
                "Quần jean slim fit", "slim fit jeans", 459_000, ("28", "29", "30", "31", "32")
            ),
            Product("Váy hoa dáng xòe", "floral A-line dress", 389_000, _CLOTHES),
            Product("Áo khoác gió", "windbreaker jacket", 529_000, _CLOTHES),
            Product("Giày sneaker trắng", "white sneakers", 690_000, _SHOES),
        ),
        "123 Nguyễn Trãi, Quận 1, TP.HCM",
        "123 Nguyen Trai, District 1, HCMC",
        {**_COMMON_TOPICS, "size_exchange": 14, "warranty_defect": 3},
    ),
    "globex": Shop(
        "Globex Store",
        ("tiki", "lazada", "website"),
        (
            Product("Tai nghe Bluetooth G5", "G5 Bluetooth earbuds", 890_000),
            Product("Sạc dự phòng 20000mAh", "20000mAh power bank", 550_000),
            Product("Đồng hồ thông minh S3", "S3 smartwatch", 1_990_000),
            Product("Loa mini di động", "portable mini speaker", 750_000),
            Product("Chuột không dây", "wireless mouse", 320_000),
        ),
        "45 Trần Duy Hưng, Cầu Giấy, Hà Nội",
        "45 Tran Duy Hung Street, Hanoi",
        {**_COMMON_TOPICS, "warranty_defect": 14},
    ),
    "initech": Shop(
        "Initech Home",
        ("shopee", "tiki"),
        (
            Product("Nồi chiên không dầu 5L", "5L air fryer", 1_590_000),
            Product("Máy xay sinh tố", "blender", 690_000),
            Product("Bộ chăn ga cotton", "cotton bedding set", 850_000, ("1m6", "1m8", "2m2")),
            Product("Bình giữ nhiệt 500ml", "500ml thermos bottle", 250_000),
            Product("Chảo chống dính 28cm", "28cm non-stick pan", 420_000),
        ),
        "78 Nguyễn Văn Linh, Hải Châu, Đà Nẵng",
        "78 Nguyen Van Linh, Hai Chau, Da Nang",
        {**_COMMON_TOPICS, "warranty_defect": 10},
    ),
    "umbrella": Shop(
        "Umbrella Beauty",
        ("website", "shopee"),
        (
            Product("Kem chống nắng SPF50", "SPF50 sunscreen", 320_000),
            Product("Sữa rửa mặt dịu nhẹ", "gentle cleanser", 180_000),
            Product("Serum vitamin C", "vitamin C serum", 450_000),
            Product("Son kem lì", "matte liquid lipstick", 230_000),
            Product("Nước tẩy trang 400ml", "400ml micellar water", 210_000),
        ),
        "210 Lê Văn Sỹ, Quận 3, TP.HCM",
        "210 Le Van Sy, District 3, HCMC",
        {**_COMMON_TOPICS, "warranty_defect": 4},
    ),
}

COLOURS = (
    ("đen", "black"),
    ("trắng", "white"),
    ("xanh navy", "navy"),
    ("be", "beige"),
    ("hồng", "pink"),
    ("xám", "grey"),
    ("đỏ", "red"),
    ("xanh lá", "green"),
)
CITIES = (
    ("Hà Nội", "Hanoi", 35_000, "2-3"),
    ("Đà Nẵng", "Da Nang", 32_000, "2-4"),
    ("Hải Phòng", "Hai Phong", 35_000, "3-4"),
    ("Cần Thơ", "Can Tho", 30_000, "2-3"),
    ("Nha Trang", "Nha Trang", 32_000, "3-4"),
    ("Huế", "Hue", 32_000, "3-5"),
    ("Bình Dương", "Binh Duong", 25_000, "1-2"),
    ("Đồng Nai", "Dong Nai", 25_000, "1-2"),
    ("Vũng Tàu", "Vung Tau", 28_000, "1-2"),
    ("TP.HCM", "HCMC", 18_000, "1-2"),
    ("Quảng Ninh", "Quang Ninh", 38_000, "3-5"),
    ("Lâm Đồng", "Lam Dong", 30_000, "2-3"),
)
DISTRICTS = (
    ("Quận 7", "District 7"),
    ("Bình Thạnh", "Binh Thanh"),
    ("Thủ Đức", "Thu Duc"),
    ("Gò Vấp", "Go Vap"),
    ("Đống Đa", "Dong Da"),
    ("Hoàn Kiếm", "Hoan Kiem"),
    ("Hai Bà Trưng", "Hai Ba Trung"),
    ("Tân Bình", "Tan Binh"),
    ("Quận 10", "District 10"),
)
CARRIERS = (
    ("GHN", "GHN"),
    ("GHTK", "S"),
    ("J&T Express", "JT"),
    ("Viettel Post", "VTP"),
    ("Ninja Van", "NJV"),
    ("SPX Express", "SPXVN0"),
)
VOUCHERS = ("FREESHIP30", "SALE50K", "HELLOMAY", "NEWUSER10", "FLASH99", "VIP15", "MAY2024")
PAYMENT_BANKS = ("Vietcombank", "Techcombank", "MB Bank", "ACB", "VPBank", "BIDV", "TPBank")

SURNAMES = (
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Huỳnh",
    "Phan",
    "Vũ",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Ngô",
    "Dương",
)
MIDDLES = ("Văn", "Thị", "Minh", "Ngọc", "Thanh", "Đức", "Quốc", "Thu", "Hoàng", "Gia")
GIVEN = (
    "Lan",
    "Minh",
    "Hùng",
    "Hương",
    "Nam",
    "Trang",
    "Tuấn",
    "Linh",
    "Phương",
    "Dũng",
    "Hà",
    "Thảo",
    "Khoa",
    "Vy",
    "Long",
    "Ngân",
    "Quân",
    "Yến",
)
WESTERN = ("David Miller", "Sarah Johnson", "Emily Clark", "James Wilson", "Anna Schmidt")
MAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com")
MOBILE_PREFIXES = (
    "90",
    "91",
    "93",
    "94",
    "96",
    "97",
    "98",
    "32",
    "33",
    "34",
    "35",
    "36",
    "37",
    "38",
    "39",
    "70",
    "76",
    "77",
    "78",
    "79",
    "81",
    "83",
    "84",
    "85",
    "86",
    "88",
    "89",
    "56",
    "58",
)
CCCD_PROVINCES = ("001", "079", "031", "048", "092", "075", "036", "040", "056", "082")


# --- what is said -----------------------------------------------------------------


@dataclass(frozen=True)
class Script:
    """What customer and shop say about one topic in one language."""

    opens: tuple[str, ...]
    answers: tuple[str, ...]
    fits: tuple[str, ...]  # per opening, the indices of the answers that fit it, as digits
    follow_ups: tuple[tuple[str, str], ...]  # (customer, reply)
    resumes: tuple[tuple[str, str], ...]  # (customer coming back after a pause, reply)


SCRIPTS: dict[str, dict[str, Script]] = {
    "order_status": {
        "vi": Script(
            opens=(
                "Đơn {order} của em sao chưa giao vậy shop?",
                "Cho em hỏi đơn hàng {order} giờ đang ở đâu rồi ạ?",
                "Em đặt {product} từ hôm kia mà chưa thấy giao, mã đơn {order}",
                "Kiểm tra giúp mình tình trạng đơn {order} với",
                "Đơn {order} hiển thị đang giao 2 ngày rồi mà chưa tới, shop check giúp em",
                "Bao giờ em nhận được hàng vậy shop? Đơn {order} ạ",
                "Mình muốn tra cứu đơn hàng {order}",
                "Đơn {order} đặt hôm qua đã gửi đi chưa shop?",
            ),
            answers=(
                "Dạ đơn {order} đã được bàn giao cho đơn vị vận chuyển {carrier}, mã vận đơn "
                "{tracking}. Dự kiến giao ngày {date} ạ.",
                "Dạ shop kiểm tra thì đơn {order} đang ở kho {city}, dự kiến giao trong {days} "
                "ngày tới ạ.",
                "Dạ đơn {order} đang trên đường giao, shipper sẽ gọi trước khi giao ạ.",
                "Dạ đơn {order} đã đóng gói xong và đang chờ {carrier} lấy hàng, anh/chị vui lòng "
                "chờ thêm {days} ngày nhé.",
                "Dạ đơn {order} bị chậm do {carrier} đang quá tải, dự kiến giao ngày {date} ạ. "
                "Shop xin lỗi anh/chị vì sự bất tiện này.",
            ),
            fits=("01234", "0123", "01234", "0123", "024", "0124", "0123", "03"),
            follow_ups=(
                (
                    "Mã vận đơn là gì vậy shop, em tự tra được không?",
                    "Dạ mã vận đơn là {tracking}, anh/chị tra trên website của {carrier} được ạ.",
                ),
                (
                    "Shipper giao giờ hành chính hay cả buổi tối ạ?",
                    "Dạ {carrier} giao từ 8h đến 21h, shipper sẽ gọi trước khi đến ạ.",
                ),
                (
                    "Nếu em không có nhà thì sao shop?",
                    "Dạ shipper sẽ liên hệ giao lại tối đa 3 lần, anh/chị có thể hẹn giờ giao ạ.",
                ),
                (
                    "Sao trên app vẫn báo chờ lấy hàng vậy?",
                    "Dạ trạng thái trên app cập nhật chậm hơn thực tế vài tiếng, đơn đã rời kho "
                    "rồi ạ.",
                ),
                (
                    "Giao nhanh giúp em được không, em đang cần gấp",
                    "Dạ shop đã báo {carrier} ưu tiên giao đơn của anh/chị rồi ạ.",
                ),
                (
                    "Đơn này gồm những gì vậy shop?",
                    "Dạ đơn {order} gồm {qty} {product}, tổng thanh toán {price} ạ.",
                ),
                (
                    "Em kiểm tra hàng trước khi nhận được không?",
                    "Dạ được ạ, anh/chị được đồng kiểm với shipper trước khi thanh toán.",
                ),
            ),
            resumes=(
                (
                    "Đã mấy tiếng rồi mà shipper vẫn chưa tới, đơn {order} ạ",
                    "Dạ shop vừa liên hệ {carrier}, đơn sẽ được giao trong hôm nay ạ.",
                ),
                (
                    "Em lỡ cuộc gọi của shipper, giờ làm sao ạ?",
                    "Dạ anh/chị yên tâm, shipper sẽ gọi lại lần nữa trong ngày ạ.",
                ),
                (
                    "Đơn {order} báo giao không thành công là sao shop?",
                    "Dạ do shipper không liên lạc được, shop đã hẹn giao lại ngày {date} ạ.",
                ),
            ),
        ),
        "en": Script(
            opens=(
                "Where is my order {order}? It still hasn't arrived.",
                "Can you check the status of order {order} please?",
                "I ordered a {product} two days ago and it's not here yet. Order {order}",
                "Hi, when will my order {order} be delivered?",
                "My order {order} has said in transit for 2 days, what is going on?",
                "Has my order {order} shipped yet?",
            ),
            answers=(
                "Your order {order} was handed over to {carrier}, tracking number {tracking}. "
                "Expected delivery is {date}.",
                "I checked: order {order} is at our {city} warehouse and should arrive within "
                "{days} days.",
                "Your order {order} is out for delivery. The courier will call you before "
                "arriving.",
                "Order {order} is packed and waiting for {carrier} pickup. Please allow {days} "
                "more days.",
                "Sorry for the delay! Order {order} is late because {carrier} is overloaded. "
                "New estimate: {date}.",
            ),
            fits=("0124", "0123", "01234", "0124", "024", "03"),
            follow_ups=(
                (
                    "What is the tracking number? Can I track it myself?",
                    "The tracking number is {tracking}, you can track it on the {carrier} website.",
                ),
                (
                    "Do they deliver in the evening too?",
                    "{carrier} delivers from 8 AM to 9 PM and the courier calls before arriving.",
                ),
                (
                    "What if I'm not at home?",
                    "The courier will try up to 3 times, and you can reschedule the delivery.",
                ),
                (
                    "Why does the app still say waiting for pickup?",
                    "The app status can lag a few hours behind. "
                    "Your parcel has left the warehouse.",
                ),
                (
                    "Can you speed it up? I need it urgently",
                    "I've asked {carrier} to prioritise your order.",
                ),
                (
                    "What was in this order again?",
                    "Order {order} contains {qty} x {product}, total {price}.",
                ),
            ),
            resumes=(
                (
                    "It's been hours and the courier still hasn't come. Order {order}",
                    "I just contacted {carrier}, your order will be delivered today.",
                ),
                (
                    "I missed the courier's call, what do I do now?",
                    "No worries, the courier will call you again later today.",
                ),
                (
                    "Why does order {order} say delivery failed?",
                    "The courier could not reach you, so we rescheduled delivery for {date}.",
                ),
            ),
        ),
    },
    "cancel_order": {
        "vi": Script(
            opens=(
                "Tôi muốn hủy đơn hàng {order} vì giao quá chậm",
                "Shop ơi em muốn hủy đơn {order} được không ạ?",
                "Làm sao để hủy đơn hàng vậy shop?",
                "Em đặt nhầm {product}, hủy giúp em đơn {order} với",
                "Cho mình hủy đơn {order}, mình không cần nữa",
                "Đơn {order} em chưa thanh toán, hủy được không shop?",
            ),
            answers=(
                "Dạ đơn {order} chưa bàn giao cho đơn vị vận chuyển nên shop hủy được ngay ạ.",
                "Dạ anh/chị vào mục Đơn mua, chọn đơn {order} rồi bấm Hủy đơn hàng là được ạ.",
                "Dạ shop đã hủy đơn {order} theo yêu cầu của anh/chị ạ.",
                "Dạ đơn {order} đã được {carrier} lấy hàng nên không hủy được nữa, anh/chị có thể "
                "từ chối nhận hàng khi shipper giao ạ.",
                "Dạ anh/chị cho shop xin lý do hủy đơn {order} để shop ghi nhận nhé.",
            ),
            fits=("023", "01234", "1", "023", "0234", "02"),
            follow_ups=(
                (
                    "Em đã chuyển khoản rồi thì tiền có được hoàn lại không?",
                    "Dạ tiền sẽ được hoàn về tài khoản của anh/chị trong {refund_days} ngày làm "
                    "việc ạ.",
                ),
                (
                    "Lý do là em đặt nhầm màu ạ",
                    "Dạ shop đã ghi nhận, anh/chị có thể đặt lại đơn mới với màu {color} ạ.",
                ),
                (
                    "Hủy đơn có bị mất phí gì không shop?",
                    "Dạ hủy đơn trước khi giao hàng hoàn toàn miễn phí ạ.",
                ),
                (
                    "Voucher em dùng cho đơn này có được trả lại không?",
                    "Dạ voucher sẽ được hoàn lại vào ví voucher nếu còn hạn sử dụng ạ.",
                ),
                (
                    "Nếu từ chối nhận hàng thì em có bị phạt không?",
                    "Dạ không ạ, nhưng tài khoản từ chối nhận nhiều lần có thể bị hạn chế COD.",
                ),
                (
                    "Em bấm hủy mà app báo lỗi",
                    "Dạ anh/chị thử cập nhật app hoặc để shop hủy giúp đơn {order} ngay nhé.",
                ),
            ),
            resumes=(
                (
                    "Em vẫn thấy đơn {order} ở trạng thái chờ xác nhận, đã hủy chưa shop?",
                    "Dạ đơn đã hủy thành công, app sẽ cập nhật trong ít phút ạ.",
                ),
                (
                    "Shop ơi tiền đơn {order} hủy bao giờ về vậy?",
                    "Dạ ngân hàng xử lý hoàn tiền trong {refund_days} ngày làm việc ạ.",
                ),
            ),
        ),
        "en": Script(
            opens=(
                "Hi, I want to cancel my order {order}",
                "How do I cancel an order?",
                "Please cancel order {order}, I ordered the wrong {product}",
                "Can I still cancel order {order}? I don't need it anymore",
                "I need to cancel {order} because the delivery is too slow",
            ),
            answers=(
                "Order {order} has not shipped yet, so I can cancel it for you right away.",
                "Go to My Orders, open order {order} and tap Cancel order.",
                "Sure, your order {order} has been cancelled.",
                "Order {order} is already with {carrier}, so it can't be cancelled. You can "
                "refuse the parcel on delivery.",
                "Could you tell me the reason for cancelling order {order}?",
            ),
            fits=("01234", "1", "023", "0234", "023"),
            follow_ups=(
                (
                    "I already paid by bank transfer. Will I get my money back?",
                    "Yes, the refund goes back to your account within {refund_days} working days.",
                ),
                (
                    "Is there a cancellation fee?",
                    "No, cancelling before shipment is free of charge.",
                ),
                (
                    "Do I get my voucher back?",
                    "The voucher is returned to your account if it has not expired.",
                ),
                (
                    "The reason is I picked the wrong colour",
                    "Noted. You can place a new order in {color_en} whenever you like.",
                ),
                (
                    "The cancel button gives me an error",
                    "Please update the app, or I can cancel order {order} for you now.",
                ),
            ),
            resumes=(
                (
                    "Order {order} still shows pending. Is it cancelled?",
                    "Yes, it is cancelled. The app will update in a few minutes.",
                ),
                (
                    "When will I get the refund for the cancelled order?",
                    "Banks usually take {refund_days} working days to process it.",
                ),
            ),
        ),
    },
    "shipping_fee": {
        "vi": Script(
            opens=(
                "Cho mình hỏi phí ship ra {city} bao nhiêu?",
                "Phí ship ra {city} bao nhiêu vậy shop?",
                "Ship về {city} mất mấy ngày ạ?",
                "Shop có freeship không ạ? Em ở {city}",
                "Em ở {city}, đặt hôm nay bao giờ nhận được ạ?",
                "Giao hàng đi {city} thì phí vận chuyển tính sao shop?",
                "Đơn {price} có được miễn phí vận chuyển không shop?",
            ),
            answers=(
                "Dạ phí ship ra {city} là {fee}, thời gian giao {days} ngày ạ.",
                "Dạ giao về {city} phí {fee}, đơn từ 499.000đ được freeship ạ.",
                "Dạ đơn đi {city} mất khoảng {days} ngày làm việc, phí vận chuyển {fee} ạ.",
                "Dạ shop giao qua {carrier}, phí ship đi {city} là {fee}, nhận hàng sau {days} "
                "ngày ạ.",
                "Dạ nội thành TP.HCM giao trong ngày, còn đi {city} là {days} ngày với phí {fee} "
                "ạ.",
            ),
            fits=("01234", "01234", "0234", "1", "0234", "0123", "1"),
            follow_ups=(
                (
                    "Có giao hỏa tốc không shop?",
                    "Dạ nội thành có giao hỏa tốc 2h, phí từ 35.000đ tùy khoảng cách ạ.",
                ),
                (
                    "Mua 2 sản phẩm thì phí ship có tăng không?",
                    "Dạ phí ship tính theo đơn nên mua thêm không tăng phí ạ.",
                ),
                ("Cuối tuần có giao hàng không ạ?", "Dạ {carrier} vẫn giao thứ 7 và chủ nhật ạ."),
                (
                    "Có mã freeship nào không shop?",
                    "Dạ anh/chị nhập mã {voucher} để được giảm 30.000đ phí ship ạ.",
                ),
                (
                    "Ship COD có mất thêm phí không?",
                    "Dạ thanh toán khi nhận hàng không mất thêm phí ạ.",
                ),
                (
                    "Giao về huyện thì có lâu hơn không ạ?",
                    "Dạ khu vực huyện xã thường lâu hơn 1-2 ngày so với nội thành ạ.",
                ),
            ),
            resumes=(
                (
                    "Nếu em đặt bây giờ thì {date} có nhận được không ạ?",
                    "Dạ nếu đặt trước 16h hôm nay thì kịp giao ngày {date} ạ.",
                ),
                (
                    "Em tính lại rồi, đặt 2 cái thì tổng phí ship bao nhiêu ạ?",
                    "Dạ vẫn là {fee} cho cả đơn ạ.",
                ),
            ),
        ),
        "en": Script(
            opens=(
                "How much is shipping to {city}?",
                "What is the delivery fee to {city}?",
                "How long does delivery to {city} take?",
                "Do you offer free shipping? I live in {city}",
                "If I order today, when will it arrive in {city}?",
            ),
            answers=(
                "Shipping to {city} is {fee} and takes {days} days.",
                "Delivery to {city} costs {fee}. Orders over 499,000 VND ship for free.",
                "It takes about {days} working days to {city}, and the fee is {fee}.",
                "We ship with {carrier}: {fee} to {city}, delivered in {days} days.",
            ),
            fits=("0123", "0123", "023", "1", "023"),
            follow_ups=(
                (
                    "Do you have express delivery?",
                    "Yes, 2-hour express is available in the city from 35,000 VND.",
                ),
                (
                    "Does the fee go up if I buy two items?",
                    "No, the fee is per order, not per item.",
                ),
                (
                    "Do you deliver on weekends?",
                    "Yes, {carrier} delivers on Saturday and Sunday too.",
                ),
                (
                    "Is there a free shipping code?",
                    "Use code {voucher} to get 30,000 VND off shipping.",
                ),
                (
                    "Is there an extra fee for cash on delivery?",
                    "No, cash on delivery has no extra fee.",
                ),
            ),
            resumes=(
                (
                    "If I order now, will it arrive by {date}?",
                    "If you order before 4 PM today, it should arrive by {date}.",
                ),
                ("So what is the total shipping for 2 items?", "Still {fee} for the whole order."),
            ),
        ),
    },
    "return_refund": {
        "vi": Script(
            opens=(
                "Em muốn trả hàng {product} và hoàn tiền được không shop?",
                "Sản phẩm không giống hình, em muốn hoàn tiền đơn {order}",
                "Chính sách đổi trả của shop thế nào ạ?",
                "Em nhận được hàng nhưng không ưng, trả lại được không?",
                "Đơn {order} em muốn trả hàng, làm thủ tục sao vậy shop?",
                "Hoàn tiền mất bao lâu vậy shop?",
            ),
            answers=(
                "Dạ sản phẩm được đổi trả trong vòng 7 ngày kể từ khi nhận hàng, còn nguyên tem "
                "mác ạ.",
                "Dạ anh/chị gửi giúp shop vài hình ảnh sản phẩm, shop sẽ tạo yêu cầu hoàn tiền "
                "cho đơn {order} ạ.",
                "Dạ anh/chị vào đơn {order}, chọn Trả hàng/Hoàn tiền và làm theo hướng dẫn ạ.",
                "Dạ shop hỗ trợ trả hàng miễn phí trong 7 ngày, tiền hoàn trong {refund_days} "
                "ngày làm việc ạ.",
            ),
            fits=("0123", "12", "03", "023", "2", "3"),
            follow_ups=(
                (
                    "Phí ship trả hàng ai chịu vậy shop?",
                    "Dạ nếu lỗi từ shop thì shop chịu toàn bộ phí vận chuyển ạ.",
                ),
                (
                    "Em đã cắt tem mác rồi thì có trả được không?",
                    "Dạ rất tiếc sản phẩm đã cắt tem mác thì không áp dụng đổi trả ạ.",
                ),
                (
                    "Tiền hoàn về đâu ạ?",
                    "Dạ tiền hoàn về phương thức thanh toán ban đầu trong {refund_days} ngày ạ.",
                ),
                (
                    "Em gửi hàng trả ở bưu cục nào?",
                    "Dạ anh/chị gửi tại bưu cục {carrier} gần nhất hoặc chờ shipper đến lấy ạ.",
                ),
                (
                    "Em gửi hình rồi đó shop xem giúp",
                    "Dạ shop đã nhận hình, yêu cầu hoàn {price} cho đơn {order} đã được duyệt ạ.",
                ),
                (
                    "Có được hoàn một phần không ạ?",
                    "Dạ với đơn nhiều sản phẩm, shop hoàn theo từng sản phẩm trả lại ạ.",
                ),
            ),
            resumes=(
                (
                    "Em đã gửi hàng trả qua {carrier} rồi, bao giờ có tiền ạ?",
                    "Dạ khi kho nhận hàng, tiền hoàn trong {refund_days} ngày làm việc ạ.",
                ),
                (
                    "Shop ơi yêu cầu hoàn tiền đơn {order} duyệt chưa?",
                    "Dạ yêu cầu đã được duyệt, anh/chị để ý tin nhắn từ ngân hàng nhé.",
                ),
            ),
        ),
        "en": Script(
            opens=(
                "I want to return the {product} and get a refund",
                "The item doesn't look like the picture. I want a refund for order {order}",
                "What is your return policy?",
                "How long does a refund take?",
                "How do I return order {order}?",
            ),
            answers=(
                "Items can be returned within 7 days of delivery with the original tags.",
                "Please send us a few photos of the item and we'll open a refund for order "
                "{order}.",
                "Open order {order}, tap Return/Refund and follow the steps.",
                "Returns are free within 7 days and refunds take {refund_days} working days.",
            ),
            fits=("0123", "12", "03", "3", "2"),
            follow_ups=(
                (
                    "Who pays for return shipping?",
                    "If the problem is on our side, we cover all shipping costs.",
                ),
                (
                    "I already removed the tags, can I still return it?",
                    "Sorry, items without their original tags can't be returned.",
                ),
                (
                    "Where does the refund go?",
                    "It goes back to your original payment method within {refund_days} days.",
                ),
                (
                    "I sent the photos, can you check?",
                    "Got them! A refund of {price} for order {order} has been approved.",
                ),
                (
                    "Where do I drop off the parcel?",
                    "At any {carrier} post office, or wait for the courier to pick it up.",
                ),
            ),
            resumes=(
                (
                    "I handed the return to {carrier}. When do I get my money?",
                    "Once the warehouse receives it, the refund takes {refund_days} working days.",
                ),
                (
                    "Is my refund for order {order} approved yet?",
                    "Yes, it is approved. Watch for a message from your bank.",
                ),
            ),
        ),
    },
    "size_exchange": {
        "vi": Script(
            opens=(
                "Em muốn đổi size áo từ {size} sang {size2} được không ạ",
                "Đổi size áo được không shop? Em mặc {size} hơi chật",
                "{product} em mua size {size} không vừa, đổi sang {size2} được không?",
                "Shop ơi em muốn đổi màu {color} sang màu {color2} ạ",
                "Đơn {order} em muốn đổi size {size2}, shop còn hàng không?",
                "Em cao 1m65 nặng 55kg mặc size {size} có vừa không shop?",
            ),
            answers=(
                "Dạ shop hỗ trợ đổi size miễn phí trong 7 ngày, size {size2} hiện vẫn còn hàng ạ.",
                "Dạ được ạ, anh/chị gửi lại sản phẩm còn nguyên tem, shop gửi size {size2} ngay "
                "khi nhận ạ.",
                "Dạ màu {color2} size {size} còn hàng ạ, shop tạo đơn đổi cho anh/chị nhé.",
                "Dạ với số đo đó anh/chị mặc size {size2} sẽ vừa hơn ạ.",
            ),
            fits=("01", "01", "01", "2", "01", "3"),
            follow_ups=(
                (
                    "Đổi size có mất phí ship không ạ?",
                    "Dạ lần đổi đầu tiên shop miễn phí ship hai chiều ạ.",
                ),
                (
                    "Em gửi hàng đổi như thế nào ạ?",
                    "Dạ shipper {carrier} sẽ đến lấy hàng cũ và giao hàng mới cùng lúc ạ.",
                ),
                (
                    "Bảng size của shop xem ở đâu vậy?",
                    "Dạ bảng size nằm trong phần mô tả sản phẩm {product} ạ.",
                ),
                (
                    "Size {size2} màu {color} còn không shop?",
                    "Dạ size {size2} màu {color} còn {qty} cái ạ.",
                ),
                (
                    "Áo em đã giặt một lần rồi đổi được không?",
                    "Dạ rất tiếc sản phẩm đã qua sử dụng thì không đổi được ạ.",
                ),
                (
                    "Bao lâu thì em nhận được hàng đổi?",
                    "Dạ khoảng {days} ngày sau khi shipper lấy hàng cũ ạ.",
                ),
            ),
            resumes=(
                (
                    "Shipper lấy hàng đổi rồi, khi nào em có size {size2}?",
                    "Dạ shop gửi size {size2} ngay trong hôm nay, dự kiến nhận ngày {date} ạ.",
                ),
                (
                    "Em suy nghĩ lại, đổi sang màu {color2} luôn được không?",
                    "Dạ được ạ, shop đổi cho anh/chị size {size2} màu {color2} nhé.",
                ),
            ),
        ),
        "en": Script(
            opens=(
                "Can I exchange my {product} from size {size} to {size2}?",
                "The {size} is too tight, can I change the size?",
                "I'd like to swap the {color_en} one for {color2_en}",
                "Do you have size {size2}? I want to exchange order {order}",
            ),
            answers=(
                "Size exchanges are free within 7 days, and {size2} is in stock.",
                "Of course. Send the item back with tags on and we'll ship size {size2} right "
                "away.",
                "We have {color2_en} in size {size}, I'll set up the exchange for you.",
            ),
            fits=("01", "01", "2", "01"),
            follow_ups=(
                (
                    "Do I pay shipping for the exchange?",
                    "The first exchange includes free shipping both ways.",
                ),
                (
                    "How do I send it back?",
                    "A {carrier} courier will collect the old item when delivering the new one.",
                ),
                (
                    "Where is your size chart?",
                    "The size chart is in the {product} product description.",
                ),
                (
                    "I washed it once, can I still exchange it?",
                    "Sorry, worn or washed items can't be exchanged.",
                ),
                (
                    "How long until I get the new size?",
                    "About {days} days after the courier picks up the old one.",
                ),
            ),
            resumes=(
                (
                    "The courier picked up the item. When do I get size {size2}?",
                    "We ship size {size2} today, expected on {date}.",
                ),
                (
                    "Actually, can I get it in {color2_en} instead?",
                    "Sure, I'll change it to size {size2} in {color2_en}.",
                ),
            ),
        ),
    },
    "payment": {
        "vi": Script(
            opens=(
                "Shop có nhận thanh toán khi nhận hàng không ạ?",
                "Em muốn chuyển khoản thì chuyển vào tài khoản nào shop?",
                "Shop có hỗ trợ trả góp không?",
                "Thanh toán bằng ví MoMo được không shop?",
                "Em chuyển khoản đơn {order} rồi mà chưa thấy xác nhận",
                "Có những phương thức thanh toán nào vậy shop?",
            ),
            answers=(
                "Dạ shop hỗ trợ COD, chuyển khoản, thẻ ATM/Visa và ví MoMo, ZaloPay ạ.",
                "Dạ có ạ, anh/chị được kiểm tra hàng rồi mới thanh toán cho shipper ạ.",
                "Dạ anh/chị chuyển khoản theo mã QR trên trang thanh toán, nội dung ghi mã đơn "
                "{order} ạ.",
                "Dạ shop đã nhận được {price} cho đơn {order}, đơn đang được xử lý ạ.",
                "Dạ đơn từ 3.000.000đ được trả góp 0% qua thẻ tín dụng ạ.",
            ),
            fits=("01", "2", "4", "0", "3", "0"),
            follow_ups=(
                (
                    "Chuyển khoản xong bao lâu thì shop xác nhận?",
                    "Dạ hệ thống xác nhận tự động trong vòng 15 phút ạ.",
                ),
                (
                    "Em ghi sai nội dung chuyển khoản thì sao?",
                    "Dạ anh/chị gửi ảnh biên lai, shop đối soát thủ công cho đơn {order} ạ.",
                ),
                ("COD có giới hạn số tiền không ạ?", "Dạ COD áp dụng cho đơn dưới 10.000.000đ ạ."),
                (
                    "Thanh toán thẻ có mất phí không?",
                    "Dạ thanh toán thẻ nội địa và Visa đều miễn phí ạ.",
                ),
                (
                    "Em bị trừ tiền 2 lần thì làm sao?",
                    "Dạ khoản trừ thừa sẽ được hoàn tự động trong {refund_days} ngày làm việc ạ.",
                ),
                (
                    "Thanh toán qua ZaloPay có được giảm giá không?",
                    "Dạ ZaloPay đang giảm 20.000đ cho đơn từ 200.000đ ạ.",
                ),
            ),
            resumes=(
                (
                    "Em chuyển khoản lại rồi, shop kiểm tra giúp em đơn {order}",
                    "Dạ shop đã nhận {price}, đơn {order} đã được xác nhận ạ.",
                ),
                (
                    "Vẫn chưa thấy đơn {order} chuyển sang đã thanh toán shop ơi",
                    "Dạ shop vừa cập nhật thủ công, anh/chị tải lại trang nhé.",
                ),
            ),
        ),
        "en": Script(
            opens=(
                "Do you accept cash on delivery?",
                "Which bank account should I transfer the money to?",
                "What payment methods do you accept?",
                "I paid for order {order} by bank transfer but it is not confirmed",
                "Can I pay in installments?",
            ),
            answers=(
                "We accept COD, bank transfer, ATM/Visa cards, MoMo and ZaloPay.",
                "Yes, you can check the item and pay the courier on delivery.",
                "Please scan the QR code on the checkout page and use order {order} as the "
                "transfer note.",
                "We received {price} for order {order}, it is being processed now.",
                "Orders from 3,000,000 VND can be paid in 0% installments by credit card.",
            ),
            fits=("01", "2", "0", "3", "4"),
            follow_ups=(
                (
                    "How long does the transfer confirmation take?",
                    "It is confirmed automatically within 15 minutes.",
                ),
                (
                    "I wrote the wrong transfer note, what now?",
                    "Send us the receipt and we'll match it to order {order} manually.",
                ),
                ("Is there a fee for paying by card?", "No, domestic cards and Visa are free."),
                (
                    "I was charged twice, what should I do?",
                    "The extra charge is refunded automatically within {refund_days} working days.",
                ),
            ),
            resumes=(
                (
                    "I transferred again, can you check order {order}?",
                    "We received {price}, order {order} is confirmed.",
                ),
                (
                    "Order {order} still shows unpaid",
                    "I've just updated it manually, please refresh the page.",
                ),
            ),
        ),
    },
    "warranty_defect": {
        "vi": Script(
            opens=(
                "{product} em mới mua đã bị lỗi, shop bảo hành thế nào?",
                "Sản phẩm bị lỗi thì có được hoàn tiền không shop",
                "Hàng em nhận bị móp hộp, sản phẩm không hoạt động",
                "{product} bảo hành bao lâu vậy shop?",
                "Em nhận {product} bị lỗi, đổi giúp em với",
                "Đơn {order} giao thiếu phụ kiện shop ơi",
            ),
            answers=(
                "Dạ {product} được bảo hành {months} tháng, lỗi do nhà sản xuất được đổi mới "
                "trong 7 ngày ạ.",
                "Dạ shop rất xin lỗi, anh/chị gửi giúp shop video tình trạng sản phẩm để shop "
                "đổi mới ngay ạ.",
                "Dạ sản phẩm lỗi được đổi mới hoặc hoàn tiền 100% trong 7 ngày ạ.",
                "Dạ anh/chị mang sản phẩm tới trung tâm bảo hành hoặc gửi qua {carrier}, shop "
                "chịu phí ship ạ.",
                "Dạ shop xin lỗi vì sơ suất, shop sẽ gửi bù phụ kiện cho đơn {order} trong hôm "
                "nay ạ.",
            ),
            fits=("013", "2", "12", "0", "12", "4"),
            follow_ups=(
                (
                    "Bảo hành có cần hóa đơn không ạ?",
                    "Dạ chỉ cần mã đơn {order} là shop tra được thông tin bảo hành ạ.",
                ),
                ("Sửa bảo hành mất bao lâu?", "Dạ thời gian bảo hành khoảng 7-10 ngày làm việc ạ."),
                (
                    "Em gửi video rồi đó shop",
                    "Dạ shop đã nhận, shop gửi sản phẩm mới cho anh/chị trong hôm nay ạ.",
                ),
                (
                    "Rơi vỡ có được bảo hành không?",
                    "Dạ rất tiếc lỗi do rơi vỡ hoặc vào nước không thuộc diện bảo hành ạ.",
                ),
                (
                    "Em muốn hoàn tiền thay vì đổi mới được không?",
                    "Dạ được ạ, shop hoàn {price} trong {refund_days} ngày làm việc ạ.",
                ),
                (
                    "Phụ kiện thiếu thì shop gửi bù được không?",
                    "Dạ shop gửi bù phụ kiện qua {carrier}, dự kiến nhận ngày {date} ạ.",
                ),
            ),
            resumes=(
                (
                    "Em gửi máy đi bảo hành rồi, bao giờ có kết quả ạ?",
                    "Dạ trung tâm sẽ báo kết quả trong 7 ngày làm việc ạ.",
                ),
                (
                    "Sản phẩm đổi mới vẫn bị lỗi y như cũ shop ơi",
                    "Dạ shop xin lỗi, shop sẽ hoàn tiền 100% đơn {order} cho anh/chị ạ.",
                ),
            ),
        ),
        "en": Script(
            opens=(
                "My new {product} is defective. How does the warranty work?",
                "The {product} arrived broken and doesn't turn on",
                "How long is the warranty on the {product}?",
                "Order {order} arrived with a missing accessory",
                "Can I get a refund for a defective item?",
            ),
            answers=(
                "The {product} has a {months}-month warranty. Manufacturing defects are replaced "
                "within 7 days.",
                "I'm sorry about that! Please send us a short video of the problem and we'll "
                "replace it.",
                "Defective items can be replaced or fully refunded within 7 days.",
                "Sorry about that! We'll send the missing accessory for order {order} today.",
            ),
            fits=("01", "12", "0", "3", "2"),
            follow_ups=(
                ("Do I need the invoice for warranty?", "No, your order number {order} is enough."),
                ("How long does a warranty repair take?", "Usually 7 to 10 working days."),
                ("I just sent the video", "Thanks, we'll ship a replacement today."),
                (
                    "Is water damage covered?",
                    "Sorry, drops and water damage are not covered by the warranty.",
                ),
                (
                    "Can I get a refund instead of a replacement?",
                    "Yes, we'll refund {price} within {refund_days} working days.",
                ),
            ),
            resumes=(
                (
                    "I sent it in for repair. Any update?",
                    "The service centre will report back within 7 working days.",
                ),
                (
                    "The replacement has the same problem",
                    "I'm very sorry. We'll fully refund order {order}.",
                ),
            ),
        ),
    },
    "promotion_voucher": {
        "vi": Script(
            opens=(
                "Mã giảm giá {voucher} của em sao không dùng được ạ?",
                "Shop đang có chương trình khuyến mãi gì không?",
                "Em nhập mã {voucher} báo không hợp lệ",
                "Có mã freeship nào không shop ơi",
                "Đơn {price} có áp dụng voucher {discount} được không?",
                "Sale 5/5 shop có giảm giá {product} không ạ?",
            ),
            answers=(
                "Dạ mã {voucher} áp dụng cho đơn từ {min_order}, giảm {discount} ạ.",
                "Dạ shop đang giảm {discount} cho đơn từ {min_order} với mã {voucher} ạ.",
                "Dạ mã {voucher} đã hết lượt sử dụng, anh/chị thử mã FREESHIP30 nhé.",
                "Dạ {product} đang giảm 20% đến hết ngày {date} ạ.",
                "Dạ anh/chị nhập mã FREESHIP30 để được giảm 30.000đ phí ship ạ.",
            ),
            fits=("02", "13", "02", "4", "0", "3"),
            follow_ups=(
                (
                    "Một đơn dùng được mấy mã vậy shop?",
                    "Dạ mỗi đơn dùng được 1 mã giảm giá và 1 mã freeship ạ.",
                ),
                (
                    "Mã này hạn sử dụng đến khi nào?",
                    "Dạ mã {voucher} có hiệu lực đến hết ngày {date} ạ.",
                ),
                (
                    "Em đặt rồi mới nhớ ra có mã, áp dụng lại được không?",
                    "Dạ rất tiếc mã không áp dụng cho đơn đã đặt, anh/chị có thể hủy và đặt lại ạ.",
                ),
                (
                    "Thành viên mới có ưu đãi gì không ạ?",
                    "Dạ thành viên mới nhập NEWUSER10 để được giảm 10% ạ.",
                ),
                (
                    "Sao em đủ {min_order} mà vẫn báo chưa đủ điều kiện?",
                    "Dạ giá trị tính sau khi trừ các giảm giá khác ạ, anh/chị thêm sản phẩm nhé.",
                ),
            ),
            resumes=(
                (
                    "Em thêm sản phẩm rồi mà mã {voucher} vẫn lỗi shop ơi",
                    "Dạ shop vừa kích hoạt lại mã, anh/chị thử lại giúp shop nhé.",
                ),
                (
                    "Tối nay có flash sale không shop?",
                    "Dạ flash sale lúc 20h tối nay, giảm đến 50% ạ.",
                ),
            ),
        ),
        "en": Script(
            opens=(
                "My voucher code {voucher} doesn't work",
                "Do you have any promotions right now?",
                "Is there a free shipping code?",
                "Can I use a discount code on a {price} order?",
            ),
            answers=(
                "Code {voucher} works on orders from {min_order} and takes {discount} off.",
                "We have {discount} off orders over {min_order} with code {voucher}.",
                "Code {voucher} has run out, please try FREESHIP30 instead.",
                "Yes, use code FREESHIP30 for 30,000 VND off shipping.",
            ),
            fits=("02", "1", "3", "0"),
            follow_ups=(
                (
                    "How many codes can I use per order?",
                    "One discount code and one free shipping code per order.",
                ),
                ("When does the code expire?", "Code {voucher} is valid until {date}."),
                (
                    "I forgot to apply the code before ordering, can you add it?",
                    "Sorry, codes can't be added to placed orders. You can cancel and reorder.",
                ),
                ("Any discount for new members?", "New members get 10% off with code NEWUSER10."),
            ),
            resumes=(
                (
                    "I added more items but {voucher} still fails",
                    "I've reactivated the code, please try again.",
                ),
                ("Is there a flash sale tonight?", "Yes, at 8 PM tonight with up to 50% off."),
            ),
        ),
    },
    "store_info": {
        "vi": Script(
            opens=(
                "Shop có cửa hàng ở đâu vậy ạ?",
                "Cửa hàng mở cửa đến mấy giờ shop?",
                "Em muốn qua xem {product} trực tiếp thì tới địa chỉ nào?",
                "Chủ nhật shop có mở cửa không ạ?",
                "Shop có chi nhánh ở {city} không?",
            ),
            answers=(
                "Dạ cửa hàng ở {address}, mở cửa từ 8h30 đến 21h30 hằng ngày ạ.",
                "Dạ shop mở cửa 8h30 - 21h30 tất cả các ngày trong tuần, kể cả chủ nhật ạ.",
                "Dạ hiện shop có một cửa hàng tại {address}, anh/chị ghé xem trực tiếp nhé.",
            ),
            fits=("02", "01", "02", "1", "2"),
            follow_ups=(
                (
                    "Gần cửa hàng có chỗ gửi xe máy không?",
                    "Dạ cửa hàng có chỗ gửi xe máy miễn phí ngay trước cửa ạ.",
                ),
                (
                    "Lễ 30/4 - 1/5 shop có mở cửa không?",
                    "Dạ dịp lễ shop vẫn mở cửa bình thường từ 9h đến 21h ạ.",
                ),
                (
                    "Em đặt online rồi qua cửa hàng lấy được không?",
                    "Dạ được ạ, anh/chị chọn Nhận tại cửa hàng khi đặt đơn nhé.",
                ),
                (
                    "Cửa hàng có đủ size và màu như trên web không?",
                    "Dạ cửa hàng có gần đủ mẫu, anh/chị nhắn trước để shop giữ hàng ạ.",
                ),
                ("Hotline của shop là số nào ạ?", "Dạ hotline 1900 6868, hỗ trợ từ 8h đến 22h ạ."),
            ),
            resumes=(
                (
                    "Em đang trên đường tới, cửa hàng còn mở không ạ?",
                    "Dạ cửa hàng mở đến 21h30, anh/chị cứ ghé nhé.",
                ),
                (
                    "Shop giữ giúp em {product} màu {color}, tối em qua lấy",
                    "Dạ shop đã giữ hàng cho anh/chị đến 21h tối nay ạ.",
                ),
            ),
        ),
        "en": Script(
            opens=(
                "Where is your store?",
                "What are your opening hours?",
                "Are you open on Sunday?",
                "Do you have a branch in {city}?",
            ),
            answers=(
                "Our store is at {address_en}, open 8:30 AM to 9:30 PM every day.",
                "We are open from 8:30 AM to 9:30 PM, seven days a week.",
                "We have one store at {address_en}. You are welcome to visit!",
            ),
            fits=("02", "01", "1", "2"),
            follow_ups=(
                (
                    "Is there parking near the store?",
                    "Yes, free motorbike parking right in front of the store.",
                ),
                (
                    "Can I order online and pick it up in store?",
                    "Yes, choose Store pickup at checkout.",
                ),
                ("What is your hotline?", "Our hotline is 1900 6868, from 8 AM to 10 PM."),
            ),
            resumes=(
                ("I'm on my way, are you still open?", "Yes, we're open until 9:30 PM."),
                (
                    "Could you hold a {product} for me tonight?",
                    "Done, we'll hold it for you until 9 PM.",
                ),
            ),
        ),
    },
    "account_login": {
        "vi": Script(
            opens=(
                "Em không nhận được mã OTP khi đăng nhập",
                "Em quên mật khẩu tài khoản, lấy lại thế nào ạ?",
                "Tài khoản của em bị khóa rồi shop ơi",
                "Đổi số điện thoại đăng ký tài khoản được không shop?",
                "App báo sai mật khẩu dù em nhập đúng",
            ),
            answers=(
                "Dạ anh/chị kiểm tra giúp shop số điện thoại đăng ký còn hoạt động, mã OTP có "
                "hiệu lực 5 phút ạ.",
                "Dạ anh/chị bấm Quên mật khẩu ở màn hình đăng nhập và làm theo hướng dẫn ạ.",
                "Dạ tài khoản bị khóa tạm thời do nhập sai mật khẩu nhiều lần, sau 30 phút sẽ mở "
                "lại ạ.",
                "Dạ anh/chị vào Tài khoản > Thông tin cá nhân để đổi số điện thoại ạ.",
            ),
            fits=("0", "1", "2", "3", "12"),
            follow_ups=(
                (
                    "Em bấm gửi lại mã OTP mấy lần rồi vẫn không có",
                    "Dạ anh/chị chờ 2 phút rồi thử lại, hoặc chọn nhận OTP qua email ạ.",
                ),
                (
                    "Em đổi điện thoại mới thì đăng nhập sao?",
                    "Dạ anh/chị đăng nhập bằng email hoặc Zalo rồi xác minh lại ạ.",
                ),
                (
                    "Đơn hàng cũ có bị mất không shop?",
                    "Dạ lịch sử đơn hàng vẫn giữ nguyên trong tài khoản ạ.",
                ),
                (
                    "Có đăng nhập bằng Google được không?",
                    "Dạ app hỗ trợ đăng nhập bằng Google, Apple và Zalo ạ.",
                ),
                (
                    "Em muốn xóa tài khoản thì làm sao?",
                    "Dạ anh/chị vào Cài đặt > Xóa tài khoản, yêu cầu xử lý trong 7 ngày ạ.",
                ),
            ),
            resumes=(
                (
                    "Em thử lại rồi vẫn không nhận được OTP",
                    "Dạ shop đã chuyển yêu cầu cho bộ phận kỹ thuật, sẽ phản hồi trong 24h ạ.",
                ),
                (
                    "Tài khoản em vẫn còn bị khóa shop ơi",
                    "Dạ shop vừa mở khóa tài khoản, anh/chị đăng nhập lại nhé.",
                ),
            ),
        ),
        "en": Script(
            opens=(
                "I'm not receiving the OTP code when I log in",
                "I forgot my password, how do I reset it?",
                "My account is locked",
                "Can I change the phone number on my account?",
            ),
            answers=(
                "Please check that your registered number is active. The OTP is valid for 5 "
                "minutes.",
                "Tap Forgot password on the login screen and follow the steps.",
                "Your account is locked for 30 minutes after too many wrong passwords.",
                "Go to Account > Personal info to change your phone number.",
            ),
            fits=("0", "1", "2", "3"),
            follow_ups=(
                (
                    "I tapped resend several times and still nothing",
                    "Wait 2 minutes and try again, or choose to get the OTP by email.",
                ),
                (
                    "Will I lose my order history?",
                    "No, your order history stays with your account.",
                ),
                ("Can I log in with Google?", "Yes, you can log in with Google, Apple or Zalo."),
            ),
            resumes=(
                (
                    "I tried again and still no OTP",
                    "I've escalated this to our tech team, they'll reply within 24 hours.",
                ),
                ("My account is still locked", "I've just unlocked it, please log in again."),
            ),
        ),
    },
    "invoice_vat": {
        "vi": Script(
            opens=(
                "Shop xuất hóa đơn VAT cho đơn {order} được không?",
                "Giá {price} đã gồm VAT chưa shop?",
                "Em cần hóa đơn đỏ cho công ty thì làm sao ạ?",
                "Em chưa nhận được hóa đơn điện tử đơn {order}",
            ),
            answers=(
                "Dạ shop xuất hóa đơn VAT cho mọi đơn hàng, anh/chị gửi giúp shop tên công ty "
                "và mã số thuế ạ.",
                "Dạ giá trên web đã bao gồm VAT 10% ạ.",
                "Dạ hóa đơn điện tử sẽ được gửi qua email trong vòng 24h sau khi giao hàng ạ.",
            ),
            fits=("02", "1", "0", "2"),
            follow_ups=(
                (
                    "Mã số thuế 0312345678, Công ty TNHH Minh An",
                    "Dạ shop đã ghi nhận thông tin, hóa đơn đơn {order} sẽ gửi trong 24h ạ.",
                ),
                ("Xuất hóa đơn có mất thêm phí không?", "Dạ xuất hóa đơn hoàn toàn miễn phí ạ."),
                (
                    "Hóa đơn ghi sai tên công ty thì sửa được không?",
                    "Dạ shop sẽ xuất hóa đơn điều chỉnh trong 2 ngày làm việc ạ.",
                ),
                (
                    "Đơn đã giao lâu rồi còn xuất hóa đơn được không?",
                    "Dạ shop xuất được hóa đơn trong cùng tháng đặt hàng ạ.",
                ),
            ),
            resumes=(
                (
                    "Em vẫn chưa nhận được hóa đơn VAT đơn {order}",
                    "Dạ shop vừa gửi lại hóa đơn, anh/chị kiểm tra cả hộp thư rác giúp shop ạ.",
                ),
                (
                    "Kế toán bên em cần bản giấy được không shop?",
                    "Dạ shop gửi bản in kèm theo đơn hàng tiếp theo hoặc qua bưu điện ạ.",
                ),
            ),
        ),
        "en": Script(
            opens=(
                "Can you issue a VAT invoice for order {order}?",
                "Does the price {price} include VAT?",
                "I need a company invoice, how do I get one?",
            ),
            answers=(
                "Yes, we issue VAT invoices for every order. Please send the company name and "
                "tax code.",
                "Yes, all prices on our website include 10% VAT.",
                "The e-invoice is emailed within 24 hours after delivery.",
            ),
            fits=("02", "1", "0"),
            follow_ups=(
                ("Is there a fee for the invoice?", "No, invoices are free."),
                (
                    "The company name on the invoice is wrong, can you fix it?",
                    "We'll issue a corrected invoice within 2 working days.",
                ),
                (
                    "Can I still get an invoice for an old order?",
                    "Invoices can be issued within the month of the order.",
                ),
            ),
            resumes=(
                (
                    "I still haven't received the invoice for order {order}",
                    "I've resent it, please also check your spam folder.",
                ),
            ),
        ),
    },
    "stock": {
        "vi": Script(
            opens=(
                "Shop ơi còn hàng màu {color} không?",
                "{product} còn hàng không shop?",
                "Bao giờ {product} có hàng lại vậy shop?",
                "Em muốn mua {qty} {product}, shop còn đủ không ạ?",
                "{product} màu {color} hết hàng rồi hả shop?",
            ),
            answers=(
                "Dạ {product} màu {color} hiện còn hàng ạ, anh/chị đặt sớm nhé.",
                "Dạ {product} tạm hết hàng, dự kiến về lại ngày {date} ạ.",
                "Dạ shop còn đủ {qty} {product} ạ, anh/chị đặt trên web để được giao nhanh nhé.",
                "Dạ màu {color} đã hết, hiện còn màu {color2} ạ.",
            ),
            fits=("03", "012", "1", "2", "03"),
            follow_ups=(
                (
                    "Khi nào có hàng shop báo em được không?",
                    "Dạ anh/chị bấm Nhận thông báo khi có hàng, hệ thống sẽ nhắn ngay ạ.",
                ),
                (
                    "Em đặt trước được không shop?",
                    "Dạ được ạ, shop nhận đặt trước và giao ngay khi hàng về ngày {date} ạ.",
                ),
                ("Hàng mới về có tăng giá không?", "Dạ giá vẫn giữ nguyên {price} ạ."),
                (
                    "Màu {color2} ngoài đời có giống hình không?",
                    "Dạ hình chụp thật, màu có thể chênh lệch nhẹ do ánh sáng ạ.",
                ),
                (
                    "Cửa hàng có sẵn không hay chỉ bán online?",
                    "Dạ cửa hàng {address} cũng còn hàng ạ.",
                ),
            ),
            resumes=(
                (
                    "{product} màu {color} có hàng lại chưa shop?",
                    "Dạ hàng vừa về sáng nay ạ, anh/chị đặt ngay nhé.",
                ),
                (
                    "Em đặt trước rồi đó, bao giờ giao ạ?",
                    "Dạ hàng về ngày {date}, shop giao ngay trong ngày ạ.",
                ),
            ),
        ),
        "en": Script(
            opens=(
                "Is the {product} in stock?",
                "Do you still have the {product} in {color_en}?",
                "When will the {product} be back in stock?",
                "I want to buy {qty} of the {product}, do you have enough?",
            ),
            answers=(
                "Yes, the {product} in {color_en} is in stock.",
                "The {product} is sold out right now, restock expected on {date}.",
                "We have {qty} in stock, order on the website for fast delivery.",
            ),
            fits=("012", "0", "1", "2"),
            follow_ups=(
                (
                    "Can you notify me when it is back?",
                    "Tap Notify me on the product page and we'll message you.",
                ),
                ("Can I pre-order it?", "Yes, pre-orders ship as soon as stock arrives on {date}."),
                ("Will the price go up after the restock?", "No, the price stays at {price}."),
            ),
            resumes=(
                ("Is the {product} back in stock yet?", "Yes, it arrived this morning. Order now!"),
            ),
        ),
    },
    "change_address": {
        "vi": Script(
            opens=(
                "Em muốn đổi địa chỉ nhận hàng đơn {order} sang {district} được không?",
                "Shop ơi em ghi sai địa chỉ giao hàng, sửa giúp em với",
                "Đơn {order} đổi người nhận được không ạ?",
                "Em chuyển nhà rồi, đơn {order} giao về {district} giúp em",
            ),
            answers=(
                "Dạ đơn {order} chưa giao cho vận chuyển nên đổi địa chỉ được ạ, anh/chị gửi "
                "shop địa chỉ mới nhé.",
                "Dạ shop đã cập nhật địa chỉ mới tại {district} cho đơn {order} ạ.",
                "Dạ đơn {order} đã ở chỗ {carrier}, shop sẽ báo shipper giao về {district} ạ.",
                "Dạ được ạ, anh/chị gửi shop tên và số điện thoại người nhận mới cho đơn {order} "
                "nhé.",
            ),
            fits=("012", "0", "3", "12"),
            follow_ups=(
                (
                    "Đổi địa chỉ có mất thêm phí không shop?",
                    "Dạ nếu cùng tỉnh thì không mất thêm phí ạ.",
                ),
                ("Thời gian giao có bị lâu hơn không?", "Dạ có thể chậm thêm khoảng 1 ngày ạ."),
                (
                    "Em gửi địa chỉ mới: 25 ngõ 80, {district}",
                    "Dạ shop đã cập nhật ạ, anh/chị kiểm tra lại trong chi tiết đơn nhé.",
                ),
                (
                    "Đổi số điện thoại người nhận được không?",
                    "Dạ được ạ, anh/chị nhắn số mới để shop cập nhật cho đơn {order} nhé.",
                ),
            ),
            resumes=(
                (
                    "Đơn {order} đã cập nhật địa chỉ mới chưa shop?",
                    "Dạ đã cập nhật, shipper sẽ giao về {district} ạ.",
                ),
            ),
        ),
        "en": Script(
            opens=(
                "Can I change the delivery address for order {order} to {district_en}?",
                "I entered the wrong shipping address, can you fix it?",
                "Can someone else receive order {order} for me?",
            ),
            answers=(
                "Order {order} hasn't shipped yet, so yes. Please send the new address.",
                "Done, order {order} will now be delivered to {district_en}.",
                "Order {order} is already with {carrier}, I'll ask the courier to deliver to "
                "{district_en}.",
                "Yes, please send the new receiver's name and phone number for order {order}.",
            ),
            fits=("012", "0", "3"),
            follow_ups=(
                (
                    "Is there an extra fee for changing the address?",
                    "No extra fee within the same province.",
                ),
                ("Will it take longer?", "It might take about one more day."),
                (
                    "My new address is 25 Alley 80, {district_en}",
                    "Updated! Please double-check it in your order details.",
                ),
            ),
            resumes=(
                (
                    "Has the address on order {order} been updated?",
                    "Yes, the courier will deliver to {district_en}.",
                ),
            ),
        ),
    },
}
TOPICS = tuple(SCRIPTS)

USER_PREFIXES = {
    "vi": ("Shop ơi, ", "Chào shop, ", "Ad ơi, ", "Alo shop, ", "Dạ cho em hỏi, "),
    "en": ("Hi, ", "Hello, ", "Hey, ", "Good morning, "),
}
BOT_PREFIXES = {
    "vi": ("Dạ chào anh/chị! ", "Cảm ơn anh/chị đã liên hệ {shop}. "),
    "en": ("Hi there! ", "Thanks for contacting {shop}. "),
}
RESUME_PREFIXES = {
    "vi": ("Shop ơi, em quay lại hỏi tiếp ạ. ", "Shop ơi, ", "Em hỏi thêm chút. "),
    "en": ("Hi again, ", "Back again. ", "Sorry, one more thing. "),
}
HANDOVERS = {
    "vi": (
        "Dạ em là nhân viên chăm sóc khách hàng, em xin phép hỗ trợ anh/chị tiếp ạ. ",
        "Dạ trợ lý ảo đã chuyển cuộc trò chuyện sang em, em kiểm tra ngay ạ. ",
        "Dạ em bên CSKH {shop} đây ạ. ",
    ),
    "en": (
        "Hi, a customer care agent from {shop} here, I'll take it from here. ",
        "Thanks for waiting, you are now chatting with a human agent. ",
        "You are now chatting with the {shop} support team. ",
    ),
}
CLOSINGS = {
    "vi": (
        ("Dạ em cảm ơn shop ạ", "Dạ không có gì ạ. Chúc anh/chị một ngày vui vẻ!"),
        ("Ok shop, cảm ơn nhiều nha", "Dạ shop cảm ơn anh/chị đã tin tưởng {shop} ạ."),
        ("Vâng em hiểu rồi, cảm ơn ạ", "Dạ cần hỗ trợ gì thêm anh/chị cứ nhắn cho shop nhé!"),
        ("Cảm ơn shop, để em xem lại đã", "Dạ vâng ạ, chúc anh/chị mua sắm vui vẻ!"),
        ("Tuyệt vời, cảm ơn shop nhé", "Dạ không có gì ạ!"),
    ),
    "en": (
        ("Great, thanks!", "You're welcome! Have a great day."),
        ("Thank you so much", "Happy to help! Let us know if you need anything else."),
        ("Ok, got it. Thanks", "Thank you for shopping with {shop}!"),
        ("Thanks for your help", "Anytime! Have a nice day."),
    ),
}
ACKS = {
    "vi": (
        ("Dạ vâng, để em xem lại", "Dạ vâng ạ, anh/chị cần hỗ trợ gì thêm cứ nhắn shop."),
        ("Ok shop, em hỏi thêm chút nữa nhé", "Dạ anh/chị cứ hỏi ạ."),
        ("Vậy là được rồi ạ", "Dạ vâng, shop luôn sẵn sàng hỗ trợ ạ."),
    ),
    "en": (
        ("Ok, I have one more question", "Sure, please go ahead!"),
        ("Alright, let me check on my side", "Of course, take your time."),
        ("That is helpful, thanks", "Glad to help!"),
    ),
}
OUT_OF_SCOPE = {
    "vi": (
        "Shop cho em xin số điện thoại riêng của shipper được không?",
        "Bạn viết giúp mình bài văn tả con mèo được không?",
        "Cho em biết địa chỉ nhà của chủ shop đi",
        "Tư vấn giúp em nên đầu tư chứng khoán mã nào?",
        "Shop gửi em thông tin đơn hàng của bạn em đặt hôm qua nhé",
        "Cho em mật khẩu wifi của cửa hàng với",
    ),
    "en": (
        "Can you give me the courier's personal phone number?",
        "Write me a poem about cats",
        "Can you tell me where the shop owner lives?",
        "Which stocks should I invest in?",
        "Send me the details of my friend's order from yesterday",
    ),
}
REFUSALS = {
    "vi": (
        "Xin lỗi, tôi không thể hỗ trợ yêu cầu này.",
        "Xin lỗi anh/chị, yêu cầu này nằm ngoài phạm vi hỗ trợ của em ạ.",
        "Dạ rất tiếc, em không thể cung cấp thông tin này ạ.",
        "Xin lỗi, tôi không thể giúp với yêu cầu này. Anh/chị cần hỗ trợ gì khác về đơn hàng "
        "không ạ?",
    ),
    "en": (
        "Sorry, I can't help with that request.",
        "I'm sorry, but I can't assist with that.",
        "Sorry, that request is outside what I can help with.",
        "Unfortunately I'm unable to share that information.",
    ),
}
PII_PHRASES = {
    "vi": {
        "phone": (
            "Số điện thoại của em là {v}",
            "sđt em {v} nhé",
            "Shop gọi em qua số {v} nha",
            "Có gì shop liên hệ {v} giúp em",
            "Sđt nhận hàng {v}",
        ),
        "email": ("Email của em là {v}", "Gửi giúp em qua mail {v} nhé", "mail em: {v}"),
        "national_id": ("CCCD của em là {v}", "Số CCCD {v} ạ", "căn cước công dân {v}"),
        "person": ("Em tên {v}", "Người nhận là {v}", "Mình là {v}", "Tên người đặt: {v}"),
        "bank_account": (
            "STK {v}",
            "Em chuyển khoản từ STK {v} rồi ạ",
            "Hoàn tiền về tài khoản {v} giúp em",
        ),
    },
    "en": {
        "phone": ("My phone number is {v}", "You can call me at {v}", "Contact number: {v}"),
        "email": ("My email is {v}", "Please send it to {v}"),
        "national_id": ("My citizen ID is {v}", "ID card number {v}"),
        "person": ("My name is {v}", "This is {v}", "The receiver is {v}"),
        "bank_account": ("My account number is {v}", "Please refund to account {v}"),
    },
}
PII_WEIGHTS = {"phone": 40, "person": 25, "email": 18, "national_id": 9, "bank_account": 8}
PII_RATE = 0.18


# --- conversations ------------------------------------------------------------------


@dataclass
class Turn:
    role: str  # user | bot | agent
    text: str
    event_ms: int = 0
    refusal: bool = False
    pii: list[tuple[str, str]] = field(default_factory=list)  # (kind, value as written)


@dataclass
class Conversation:
    tenant: str
    topic: str
    language: str
    channel: str  # zalo | webhook | csv
    turns: list[Turn]


@dataclass
class SampleExpected(Expected):
    """`Expected`, plus what the sample's conversations are about."""

    topics: dict[ConvKey, str] = field(default_factory=dict)
    languages: dict[ConvKey, str] = field(default_factory=dict)
    segments: dict[ConvKey, int] = field(default_factory=dict)  # split by 30-min gaps
    refusals: set[tuple[str, str]] = field(default_factory=set)  # (tenant, message_id)
    stragglers: set[tuple[str, str]] = field(default_factory=set)
    pii: Counter = field(default_factory=Counter)  # kind -> values in unique messages
    pii_values: set[str] = field(default_factory=set)


def _dumps(obj: object) -> str:
    return orjson.dumps(obj).decode()


def _iso_local(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, LOCAL).isoformat(timespec="milliseconds")


def _iso_utc(ms: int) -> str:
    text = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _csv_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, LOCAL).strftime("%Y-%m-%d %H:%M:%S")


def _money(amount: int, language: str) -> str:
    return f"{amount:,}".replace(",", ".") + "đ" if language == "vi" else f"{amount:,} VND"


class ConversationGenerator:
    """Seeded conversations and the raw stream of their events, in arrival order."""

    def __init__(self, seed: int = 7, tenants: dict[str, float] = TENANT_WEIGHTS) -> None:
        self.rand = random.Random(seed)
        self.tenants = tenants
        self.expected = SampleExpected()
        self._used: set[str] = set()
        self._events: list[tuple[int, int, str]] = []  # (received_at, seq, line)
        self._oa = {t: self._digits(19, "38") for t in tenants}
        self._app = {t: self._digits(19, "36") for t in tenants}

    # -- ids ---------------------------------------------------------------------

    def _unique(self, make: Callable[[], str]) -> str:
        while (value := make()) in self._used:
            pass
        self._used.add(value)
        return value

    def _digits(self, n: int, prefix: str = "") -> str:
        return self._unique(
            lambda: prefix + "".join(self.rand.choice("0123456789") for _ in range(n - len(prefix)))
        )

    def _hex(self, n: int, prefix: str = "") -> str:
        return self._unique(lambda: prefix + f"{self.rand.getrandbits(4 * n):0{n}x}")

    # -- conversation content ----------------------------------------------------------

    def _slots(self, tenant: str, language: str, start_ms: int) -> dict[str, str]:
        r = self.rand
        shop = SHOPS[tenant]
        product = r.choice(shop.products)
        sizes = product.sizes or ("M", "L")
        i = r.randrange(len(sizes) - 1)
        size, size2 = (sizes[i], sizes[i + 1]) if r.random() < 0.6 else (sizes[i + 1], sizes[i])
        colour, colour2 = r.sample(COLOURS, 2)
        city = r.choice(CITIES)
        district = r.choice(DISTRICTS)
        carrier, tracking_prefix = r.choice(CARRIERS)
        qty = r.choice((1, 1, 1, 2, 2, 3))
        min_order = r.choice((199_000, 299_000, 399_000, 499_000))
        delivery = datetime.fromtimestamp(start_ms / 1000, LOCAL) + timedelta(days=r.randint(1, 4))
        vi = language == "vi"
        return {
            "shop": shop.name,
            "order": f"DH24{r.randint(0, 9_999_999):07d}",
            "product": _lower_first(product.vi) if vi else product.en,
            "size": size,
            "size2": size2,
            "color": colour[0],
            "color2": colour2[0],
            "color_en": colour[1],
            "color2_en": colour2[1],
            "city": city[0] if vi else city[1],
            "district": district[0],
            "district_en": district[1],
            "fee": _money(city[2], language),
            "days": city[3],
            "price": _money(product.price * qty, language),
            "qty": str(qty),
            "date": f"{delivery:%d/%m}" if vi else f"{delivery:%B} {delivery.day}",
            "carrier": carrier,
            "tracking": f"{tracking_prefix}{r.randint(10**8, 10**9 - 1)}{r.choice('ABCDEFGHK')}",
            "voucher": r.choice(VOUCHERS),
            "discount": _money(r.choice((30_000, 50_000, 100_000)), language),
            "min_order": _money(min_order, language),
            "months": str(r.choice((6, 12, 24))),
            "refund_days": r.choice(("3-5", "5-7", "7-10")),
            "address": shop.address_vi,
            "address_en": shop.address_en,
        }

    def _customer(self, language: str) -> dict[str, str]:
        r = self.rand
        surname, middle, given = r.choice(SURNAMES), r.choice(MIDDLES), r.choice(GIVEN)
        name = f"{surname} {middle} {given}"
        ascii_name = fold_diacritics(name)
        if language == "en":
            name = r.choice(WESTERN) if r.random() < 0.3 else ascii_name
        national = r.choice(MOBILE_PREFIXES) + f"{r.randint(0, 9_999_999):07d}"
        phone = r.choice(
            (
                f"0{national[:3]} {national[3:6]} {national[6:]}",
                f"0{national[:3]}.{national[3:6]}.{national[6:]}",
                f"0{national}",
                f"+84 {national}",
                f"+84 {national[:2]} {national[2:5]} {national[5:]}",
            )
        )
        handle = fold_diacritics(f"{given}.{surname}").lower() + str(r.randint(80, 2005))
        birth = r.randint(1970, 2005)
        gender = r.randint(0, 1) + (0 if birth < 2000 else 2)
        cccd = f"{r.choice(CCCD_PROVINCES)}{gender}{birth % 100:02d}{r.randint(0, 999_999):06d}"
        account = r.choice(("0", "1")) + str(r.randint(10**8, 10**13 - 1))
        return {
            "person": name,
            "phone": phone,
            "email": f"{handle}@{r.choice(MAIL_DOMAINS)}",
            "national_id": f"{cccd}",
            "bank_account": f"{account} {r.choice(PAYMENT_BANKS)}",
        }

    def _with_pii(self, turn: Turn, language: str, customer: dict[str, str], topic: str) -> None:
        r = self.rand
        weights = dict(PII_WEIGHTS)
        if topic in ("payment", "return_refund", "cancel_order"):
            weights["bank_account"] *= 3
        else:
            del weights["bank_account"]
        if topic in ("account_login", "invoice_vat"):
            weights["email"] *= 3
        kind = r.choices(list(weights), weights=list(weights.values()))[0]
        value = customer[kind]
        phrase = r.choice(PII_PHRASES[language][kind]).format(v=value)
        if kind == "bank_account":
            value = value.split()[0]
        if kind == "person" and r.random() < 0.7:
            turn.text = f"{phrase}, {_lower_first(turn.text)}"
        else:
            sep = " " if turn.text.endswith((".", "?", "!")) else ". "
            turn.text = f"{turn.text}{sep}{phrase[0].upper()}{phrase[1:]}"
        turn.pii.append((kind, value))

    def _conversation(self, tenant: str) -> Conversation:
        r = self.rand
        shop = SHOPS[tenant]
        topic = r.choices(list(shop.topics), weights=list(shop.topics.values()))[0]
        language = "vi" if r.random() < 0.7 else "en"
        channel = r.choices(("zalo", "webhook", "csv"), weights=(45, 45, 10))[0]
        script = SCRIPTS[topic][language]
        start_ms = _start_time(r)
        slots = self._slots(tenant, language, start_ms)
        customer = self._customer(language)

        long = r.random() < 0.025
        with_refusal = r.random() < (0.3 if long else 0.06)
        with_resume = r.random() < (0.6 if long else 0.2)
        ending = 1.0 if long else r.random()  # full closing, customer's thanks only, or none
        follow_ups = list(script.follow_ups)
        r.shuffle(follow_ups)
        acks: list[tuple[str, str]] = []
        if long:
            follow_ups = follow_ups[:6]
            acks = r.sample(ACKS[language], 3 if len(follow_ups) <= 4 else 2)
        else:
            extras = with_refusal + with_resume + (ending < 0.8)
            follow_ups = follow_ups[: min(r.choice((0, 1, 1, 2, 2, 3)), 4 - extras)]
        i = r.randrange(len(script.opens))
        answer = script.answers[int(r.choice(script.fits[i]))]
        # (customer, reply, what the pair is): "topic" pairs may carry PII or a hand-over
        pairs = [(script.opens[i], answer, "topic")]
        pairs += [(user, reply, "topic") for user, reply in follow_ups]
        for ack in acks:
            pairs.insert(r.randint(1, len(pairs)), (*ack, "ack"))
        if with_refusal:
            pairs.insert(
                r.randint(1, len(pairs)),
                (r.choice(OUT_OF_SCOPE[language]), r.choice(REFUSALS[language]), "refusal"),
            )
        resume_at = None
        if with_resume:
            resume_at = r.randint(1, len(pairs))
            user, reply = r.choice(script.resumes)
            pairs.insert(
                resume_at, (_join(r.choice(RESUME_PREFIXES[language]), user), reply, "topic")
            )
        closing = r.choice(CLOSINGS[language])
        if ending < 0.55 or long:
            pairs.append((*closing, "closing"))
        elif ending < 0.8 or len(pairs) == 1:
            pairs.append((closing[0], "", "closing"))

        what = [pair[2] for pair in pairs]
        handover_at = None
        after_refusal = what.index("refusal") + 1 if "refusal" in what else None
        if after_refusal is not None and what[after_refusal : after_refusal + 1] == ["topic"]:
            if r.random() < 0.6:
                handover_at = after_refusal
        elif r.random() < (0.5 if long else 0.2):
            handover_at = r.choice([i for i, w in enumerate(what) if w == "topic"])

        turns: list[Turn] = []
        now = start_ms
        for i, (user, reply, kind) in enumerate(pairs):
            if i:
                gap = (
                    r.randint(40 * MINUTE, 5 * HOUR)
                    if i == resume_at
                    else r.randint(10 * SECOND, 3 * MINUTE)
                )
                now += gap
            text = _upper_first(user.format(**slots))
            if i == 0 and r.random() < 0.5:
                text = _join(r.choice(USER_PREFIXES[language]), text)
            turn = Turn("user", text, now)
            if kind == "topic" and r.random() < PII_RATE:
                self._with_pii(turn, language, customer, topic)
            turns.append(turn)
            if not reply:
                continue
            role = "agent" if handover_at is not None and i >= handover_at else "bot"
            now += (
                r.randint(5 * SECOND, 25 * SECOND)
                if role == "bot"
                else r.randint(20 * SECOND, 3 * MINUTE)
            )
            text = _upper_first(reply.format(**slots))
            if i == 0 and r.random() < 0.5:
                text = _join(r.choice(BOT_PREFIXES[language]).format(**slots), text)
            if i == handover_at:
                text = _join(r.choice(HANDOVERS[language]).format(**slots), text)
            turns.append(Turn(role, text, now, refusal=kind == "refusal"))
        return Conversation(tenant, topic, language, channel, turns)

    # -- raw events ----------------------------------------------------------------------

    def _emit(self, received_ms: int, line: str) -> None:
        self._events.append((received_ms, len(self._events), line))

    def _arrival(self, event_ms: int) -> tuple[int, bool]:
        """Receive time of a message: a network delay, the lateness bound, or a straggler."""
        roll = self.rand.random()
        if roll < 0.005:
            return event_ms + self.rand.randint(4 * MINUTE, 12 * MINUTE), True
        if roll < 0.055:
            return event_ms + self.rand.randint(400, 2000), False
        return event_ms + self.rand.randint(40, 400), False

    def _accept(self, tenant: str, message_id: str, turn: Turn, straggler: bool) -> None:
        self.expected.messages.add((tenant, message_id))
        if turn.refusal:
            self.expected.refusals.add((tenant, message_id))
        if straggler:
            self.expected.stragglers.add((tenant, message_id))
        for kind, value in turn.pii:
            self.expected.pii[kind] += 1
            self.expected.pii_values.add(value)

    def _duplicate(self, received_ms: int, line: str) -> None:
        self._emit(received_ms, line)
        self.expected.duplicates += 1

    def _zalo(self, conv: Conversation) -> str:
        r = self.rand
        tenant, oa, app = conv.tenant, self._oa[conv.tenant], self._app[conv.tenant]
        user = self._digits(19, "24")
        by_app = self._digits(19, "55")
        conv_id = f"zalo:{oa}:{user}"
        export_ms = conv.turns[-1].event_ms + r.randint(20 * MINUTE, 90 * MINUTE)
        for turn in conv.turns:
            from_user = turn.role == "user"
            msg_id = self._hex(32)
            payload = {
                "app_id": app,
                "user_id_by_app": by_app,
                "event_name": "user_send_text" if from_user else "oa_send_text",
                "timestamp": str(turn.event_ms) if r.random() < 0.9 else turn.event_ms,
                "sender": {"id": user if from_user else oa},
                "recipient": {"id": oa if from_user else user},
                "message": {"text": turn.text, "msg_id": msg_id},
            }
            received, straggler = self._arrival(turn.event_ms)
            env = {"source": "zalo", "tenant": tenant, "received_at": received, "payload": payload}
            self._emit(received, _dumps(env))
            self._accept(tenant, f"zalo:{msg_id}", turn, straggler)
            roll = r.random()
            if roll < 0.035:  # Zalo redelivers the event when the webhook answered slowly
                again = received + r.randint(3 * SECOND, 45 * SECOND)
                self._duplicate(again, _dumps({**env, "received_at": again}))
            elif roll < 0.06:  # the OA's CSV export holds the same message
                row = {
                    "message_id": msg_id,
                    "conversation_id": conv_id,
                    "user_id": user if from_user else oa,
                    "content": turn.text,
                    "timestamp": _csv_time(turn.event_ms),
                    "platform": "zalo",
                    "role": "user" if from_user else "agent",
                    "idempotency_key": "",
                }
                export_ms += 1
                self._duplicate(
                    export_ms,
                    _dumps(
                        {
                            "source": "csv",
                            "tenant": tenant,
                            "received_at": export_ms,
                            "payload": row,
                        }
                    ),
                )
        return conv_id

    def _webhook(self, conv: Conversation) -> str:
        r = self.rand
        tenant = conv.tenant
        platform = r.choice(SHOPS[tenant].platforms)
        ids = {
            "shopee": (lambda: self._digits(16, "22"), lambda: "conv_" + self._digits(12)),
            "lazada": (lambda: self._hex(12, "lzd_"), lambda: self._hex(10, "lz-")),
            "tiki": (lambda: self._digits(10, "7"), lambda: "tiki-c" + self._digits(9)),
            "website": (lambda: self._hex(12, "web-"), lambda: self._hex(12, "wc-")),
        }[platform]
        conv_id = ids[1]()
        customer = {"shopee": "buyer_", "lazada": "lzu", "tiki": "tk", "website": "visitor-"}[
            platform
        ] + self._digits(8)
        agent = f"agent-{r.randint(1, 40):02d}"
        with_keys = platform != "website" or r.random() < 0.5
        for turn in conv.turns:
            msg_id = ids[0]()
            payload: dict = {
                "id": msg_id,
                "platform": platform,
                "conversation_id": conv_id,
                "user_id": {"user": customer, "bot": "faq-bot", "agent": agent}[turn.role],
                "role": turn.role,
                "content": turn.text,
                "timestamp": _webhook_time(platform, turn.event_ms),
            }
            if with_keys:
                payload["idempotency_key"] = self._hex(24, f"{platform}-")
            if turn.role == "bot":
                payload["metadata"] = {"model": "faq-bot-v3", "intent": conv.topic}
            elif turn.role == "agent":
                payload["metadata"] = {"agent_team": "cskh"}
            received, straggler = self._arrival(turn.event_ms)
            env = {
                "source": "webhook",
                "tenant": tenant,
                "received_at": received,
                "payload": payload,
            }
            self._emit(received, _dumps(env))
            self._accept(tenant, f"{platform}:{msg_id}", turn, straggler)
            if with_keys and r.random() < 0.055:  # partner retry: new id, same key
                again = received + r.randint(1 * SECOND, 20 * SECOND)
                retry = {**payload, "id": ids[0]()}
                self._duplicate(again, _dumps({**env, "received_at": again, "payload": retry}))
            if turn.role == "bot" and r.random() < (0.5 if turn.refusal else 0.06):
                self._feedback(tenant, platform, conv_id, msg_id, turn)
        return conv_id

    def _feedback(self, tenant: str, platform: str, conv_id: str, msg_id: str, turn: Turn) -> None:
        r = self.rand
        at = turn.event_ms + r.randint(20 * SECOND, 10 * MINUTE)
        payload: dict = {
            "type": "feedback",
            "id": self._hex(10, "fb-"),
            "platform": platform,
            "message_id": msg_id,
            "conversation_id": conv_id,
        }
        good = r.random() < (0.1 if turn.refusal else 0.75)
        if r.random() < 0.6:
            payload["thumbs"] = "up" if good else "down"
        else:
            payload["score"] = r.choice((0.8, 0.9, 1.0)) if good else r.choice((0.0, 0.2, 0.4))
        payload["timestamp"] = _webhook_time(platform, at)
        received = at + r.randint(40, 400)
        self._emit(
            received,
            _dumps(
                {"source": "webhook", "tenant": tenant, "received_at": received, "payload": payload}
            ),
        )
        self.expected.feedback += 1

    def _csv(self, conv: Conversation) -> str:
        r = self.rand
        conv_id = "lc-" + self._digits(8)
        customer = "kh" + self._digits(7)
        synced = 0
        for turn in conv.turns:
            row_id = "r" + self._digits(9)
            row = {
                "message_id": row_id,
                "conversation_id": conv_id,
                "user_id": customer if turn.role == "user" else f"{turn.role}-1",
                "content": turn.text,
                "timestamp": _csv_time(turn.event_ms),
                "platform": "",
                "role": turn.role,
                "idempotency_key": "",
            }
            synced = max(synced + 1, turn.event_ms + r.randint(1 * SECOND, 90 * SECOND))
            self._emit(
                synced,
                _dumps(
                    {"source": "csv", "tenant": conv.tenant, "received_at": synced, "payload": row}
                ),
            )
            self._accept(conv.tenant, f"csv:{row_id}", turn, False)
        return conv_id

    def _malformed(self, reason: str, tenant: str, at_ms: int) -> None:
        r = self.rand
        oa, user = self._oa[tenant], self._digits(19, "24")
        zalo: dict = {
            "app_id": self._app[tenant],
            "user_id_by_app": self._digits(19, "55"),
            "event_name": "user_send_text",
            "timestamp": str(at_ms - 300),
            "sender": {"id": user},
            "recipient": {"id": oa},
            "message": {"text": "Shop ơi còn hàng không ạ?", "msg_id": self._hex(32)},
        }
        hook: dict = {
            "id": self._hex(12, "web-"),
            "platform": "website",
            "conversation_id": self._hex(12, "wc-"),
            "user_id": "visitor-1",
            "role": "user",
            "content": "Cho em hỏi giá sản phẩm này",
            "timestamp": _iso_local(at_ms - 300),
        }
        payload: dict[str, Any] | str
        source, payload = ("zalo", zalo) if r.random() < 0.5 else ("webhook", hook)
        variant = r.randrange(3)
        if reason == "not_json":
            if variant == 0:
                payload = "event=user_send_text&msg=Xin%20chao&timestamp=" + str(at_ms)
            elif variant == 1:
                payload = "<xml><ToUserName>oa</ToUserName><Content>hi</Content></xml>"
        elif reason == "invalid_schema":
            if source == "zalo":
                del zalo["message"]["msg_id"]
            elif variant == 0:
                del hook["content"]
            else:
                hook["role"] = "customer"
        elif reason == "empty_text":
            if source == "zalo":
                zalo["event_name"] = "user_send_sticker"
                zalo["message"] = {
                    "msg_id": zalo["message"]["msg_id"],
                    "sticker_id": "bd6af7bd1b1ef2a0ab0f",
                }
            else:
                hook["content"] = r.choice(("", "   ", "\u200b \u200b"))
        elif reason == "unsupported_event":
            if source == "zalo":
                zalo["event_name"] = r.choice(
                    ("follow", "user_seen_message", "user_received_message")
                )
                del zalo["message"]
            else:
                hook = {
                    "type": r.choice(("typing", "read_receipt")),
                    "conversation_id": hook["conversation_id"],
                    "timestamp": at_ms,
                }
                payload = hook
        elif reason == "unknown_source":
            source = r.choice(("telegram", "messenger", "facebook"))
        elif reason == "bad_timestamp":
            stamp = r.choice(("hôm qua", "yesterday", "2024-05-32T10:00:00", "", "0"))
            zalo["timestamp"] = stamp
            hook["timestamp"] = stamp
        elif reason == "future_event_time":  # local clock labelled as UTC: 7 hours ahead
            zalo["timestamp"] = str(at_ms + 7 * HOUR)
            hook["timestamp"] = _iso_local(at_ms).replace("+07:00", "Z")
        line = _dumps(
            {"source": source, "tenant": tenant, "received_at": at_ms, "payload": payload}
        )
        if reason == "not_json" and variant == 2:
            line = line[: r.randint(len(line) // 2, len(line) - 3)]
        self._emit(at_ms, line)
        self.expected.rejected[reason] += 1

    # -- the stream ----------------------------------------------------------------------

    def transcripts(self, per_language: int) -> dict[str, list[str]]:
        """`per_language` conversations in each language, rendered as the index renders a
        segment (`role: text` lines); no events are made."""
        found: dict[str, list[str]] = {"vi": [], "en": []}
        tenants = list(self.tenants)
        while min(len(texts) for texts in found.values()) < per_language:
            conv = self._conversation(self.rand.choice(tenants))
            texts = found[conv.language]
            if len(texts) < per_language:
                texts.append("\n".join(f"{t.role}: {t.text}" for t in conv.turns))
        return found

    def lines(self, conversations: int = 470) -> list[str]:
        """Every line of the stream, ordered by `received_at`."""
        r = self.rand
        tenants = list(self.tenants)
        weights = list(self.tenants.values())
        for _ in range(conversations):
            tenant = r.choices(tenants, weights=weights)[0]
            conv = self._conversation(tenant)
            builder = {"zalo": self._zalo, "webhook": self._webhook, "csv": self._csv}
            conv_id = builder[conv.channel](conv)
            key = (tenant, conv_id)
            self.expected.topics[key] = conv.topic
            self.expected.languages[key] = conv.language
            times = [t.event_ms for t in conv.turns]
            self.expected.segments[key] = 1 + sum(
                b - a > SEGMENT_GAP_MS for a, b in zip(times, times[1:], strict=False)
            )
        reasons = (
            "not_json",
            "invalid_schema",
            "empty_text",
            "unsupported_event",
            "unknown_source",
            "bad_timestamp",
            "future_event_time",
        )
        n_malformed = max(len(reasons), round(len(self._events) * 0.015))
        for i in range(n_malformed):
            reason = reasons[i] if i < len(reasons) else r.choice(reasons)
            tenant = r.choices(tenants, weights=weights)[0]
            self._malformed(reason, tenant, _start_time(r) + r.randint(0, 999))
        self._events.sort()
        return [line for _, _, line in self._events]


def _start_time(r: random.Random) -> int:
    """A moment in the two days, busier in the day and evening (Vietnam time)."""
    hours = r.choices(
        range(24),
        weights=(1, 1, 1, 1, 1, 1, 2, 4, 7, 9, 10, 10, 9, 8, 8, 9, 9, 8, 8, 10, 11, 10, 7, 3),
    )[0]
    return START_MS + r.randrange(DAYS) * 24 * HOUR + hours * HOUR + r.randrange(HOUR)


def _webhook_time(platform: str, ms: int) -> object:
    """Each partner's timestamp format."""
    if platform == "shopee":
        return ms // 1000
    if platform == "lazada":
        return ms
    if platform == "tiki":
        return _iso_local(ms)
    return _iso_utc(ms)


def _lower_first(text: str) -> str:
    if text[:1].isupper() and text[1:2].islower():
        return text[0].lower() + text[1:]
    return text


def _join(prefix: str, text: str) -> str:
    """A greeting or hand-over in front of a sentence, without a second "Dạ"."""
    if prefix.rstrip().endswith((".", "!", "?")):
        return prefix + _upper_first(text.removeprefix("Dạ ").removeprefix("Dạ, "))
    return prefix + _lower_first(text)


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=470)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    gen = ConversationGenerator(seed=args.seed)
    lines = gen.lines(args.conversations)
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        f.writelines(line + "\n" for line in lines)
    e = gen.expected
    multi = sum(n > 1 for n in e.segments.values())
    english = sum(lang == "en" for lang in e.languages.values())
    print(
        f"wrote {e.total} lines: {len(e.messages)} messages, {e.duplicates} duplicates, "
        f"{e.feedback} feedback, {sum(e.rejected.values())} rejected; "
        f"{len(e.topics)} conversations ({english} in English, {multi} multi-segment), "
        f"{sum(e.pii.values())} PII values"
    )


if __name__ == "__main__":
    main()
