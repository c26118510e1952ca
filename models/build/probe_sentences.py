"""Fixed chat lines the build embeds to measure fp32-vs-int8 agreement; tests reuse them."""

from __future__ import annotations

PROBE_SENTENCES: tuple[str, ...] = (
    "",
    "ok",
    "cảm ơn shop",
    "I want to cancel my order",
    "Tôi muốn hủy đơn hàng",
    "Xin chào shop, em muốn hỏi về đơn hàng DH240501123 ạ",
    "When will my package arrive? It has been a week already.",
    "Giao hàng chậm quá, đã một tuần rồi mà chưa nhận được",
    "The payment failed twice but the money was taken from my card",
    "Thanh toán bị lỗi hai lần nhưng tài khoản vẫn bị trừ tiền",
    "Can I change the delivery address to 12 Nguyen Hue, District 1?",
    "Please refund me, the shoes are the wrong size",
    "Shop ơi cho em đổi size áo từ M sang L được không ạ",
    "how do i reset my password",
    "Your order has been shipped and will arrive in 2-3 business days.",
    "Dạ shop đã nhận được yêu cầu, bên em sẽ liên hệ lại trong 24h ạ",
    "!!!",
    "👍",
    "Is there a discount code for first-time customers?",
    "Mã giảm giá không áp dụng được cho đơn này",
    "I was charged for shipping even though my order was over the free shipping limit, "
    "can someone from billing look into this and send me the difference back please",
    "Sản phẩm nhận được bị hỏng, hộp bị móp và thiếu phụ kiện, "
    "em muốn trả hàng và hoàn tiền, shop hướng dẫn em làm thủ tục với ạ",
    "Thanks, that solved it!",
    "bot ngu quá, cho tôi nói chuyện với nhân viên",
    "Order #A-77812 still says processing",
    "The app crashes every time I open the cart on Android 14",
    "Tôi đã chuyển khoản rồi, đây là mã giao dịch FT24123456789",
    "Do you ship to Da Nang?",
    " ".join(["The customer reported that the item arrived late and damaged."] * 40),
    " ".join(["Khách hàng phản ánh sản phẩm giao trễ và bị hư hỏng."] * 40),
)
