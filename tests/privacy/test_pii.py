from __future__ import annotations

import random
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlsteward.errors import InvalidArgument
from mlsteward.privacy._pii import (
    ColumnClassification,
    PiiClass,
    classify_column,
    classify_frame,
    is_email,
    is_iban,
    is_ipv4,
    is_ipv6,
    is_payment_card,
    is_phone,
    is_phone_column_name,
    mask_value,
)

# Published issuer test numbers (no real account behind them).
VALID_CARDS = [
    "4111 1111 1111 1111",  # Visa
    "4012888888881881",  # Visa
    "5555-5555-5555-4444",  # Mastercard 51-55
    "2223003122003222",  # Mastercard 2-series
    "378282246310005",  # Amex
    "6011111111111117",  # Discover
    "3530111333300000",  # JCB
    "30569309025904",  # Diners
]
VALID_IBANS = [
    "GB82 WEST 1234 5698 7654 32",
    "DE89370400440532013000",
    "FR1420041010050500013M02606",
    "NL91ABNA0417164300",
    "be68539007547034",
]


def luhn_check_digit(payload: str) -> str:
    total = 0
    for position, char in enumerate(reversed(payload)):
        digit = int(char)
        if position % 2 == 0:  # doubled once the check digit is appended
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return str((10 - total % 10) % 10)


def make_card(rng: random.Random, prefix: str = "4", length: int = 16) -> str:
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    return body + luhn_check_digit(body)


# --------------------------------------------------------------------------- validators


@pytest.mark.parametrize(
    "value",
    [
        "alice@example.com",
        "first.last+tag@sub.example.co.uk",
        "o'brien@example.ie",
        "x@ex-ample.io",
        "user@münchen.de",
        "a@xn--mnchen-3ya.de",
    ],
)
def test_is_email_accepts_addresses(value: str) -> None:
    assert is_email(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "plainaddress",
        "@example.com",
        "alice@",
        "alice@localhost",
        "a..b@example.com",
        ".a@example.com",
        "a.@example.com",
        "a@b@example.com",
        "alice@-example.com",
        "alice@example.c0m",
        "alice @example.com",
        " alice@example.com",
        "a" * 65 + "@example.com",
        "a@" + "b" * 250 + ".com",
    ],
)
def test_is_email_rejects_non_addresses(value: str) -> None:
    assert not is_email(value)


@pytest.mark.parametrize(
    "value",
    ["+14155552671", "+44 20 7946 0958", "(030) 123-4567", "555.123.4567", "0170 1234567"],
)
def test_is_phone_accepts_numbers(value: str) -> None:
    assert is_phone(value)


@pytest.mark.parametrize(
    "value",
    [
        "123456",  # 6 digits
        "1234567890123456",  # 16 digits
        "7777777",  # all the same digit
        "+1 555 CALL NOW",
        "2024-01-31",
        "31.01.2024",
        "1234567.89",
        "555)123(4567",
        "1+5551234567",
        "((030)) 1234567",
        "",
        # Bare digit runs: ids, amounts, zip codes as often as phone numbers.
        "4155552671",
        "1234567",
        "004915112345678",
        # Numbers with thousands separators and ZIP+4 codes.
        "1 234 567",
        "12.345.678",
        "1-000-000",
        "94103-1234",
    ],
)
def test_is_phone_rejects_non_numbers(value: str) -> None:
    assert not is_phone(value)


@pytest.mark.parametrize(
    ("value", "bare"),
    [("4155552671", True), ("004915112345678", True), ("123456", False), ("7777777", False)],
)
def test_bare_digit_phones_need_the_explicit_flag(value: str, bare: bool) -> None:
    assert not is_phone(value)
    assert is_phone(value, bare_digits=True) is bare


@pytest.mark.parametrize(
    ("name", "phone"),
    [
        ("phone", True),
        ("customer_phone_no", True),
        ("PhoneNumber", True),
        ("mobileNo", True),
        ("tel", True),
        ("fax_number", True),
        ("cell", True),
        ("Tel-Nr", True),
        ("hotel", False),
        ("intel_id", False),
        ("cancellation_reason", False),
        ("order_id", False),
        ("zip", False),
        ("", False),
    ],
)
def test_is_phone_column_name(name: str, phone: bool) -> None:
    assert is_phone_column_name(name) is phone


@pytest.mark.parametrize("value", VALID_IBANS)
def test_is_iban_accepts_valid_ibans(value: str) -> None:
    assert is_iban(value)


@pytest.mark.parametrize(
    "value",
    [
        "GB82 WEST 1234 5698 7654 33",  # one digit off
        "GB28 WEST 1234 5698 7654 32",  # check digits swapped
        "DE8937040044053201300",  # one character short for DE
        "GB82WEST12345698765432X",  # too long for GB
        "XX00",
        "1234567890123456",
        "",
    ],
)
def test_is_iban_rejects_invalid_ibans(value: str) -> None:
    assert not is_iban(value)


def test_is_iban_uses_generic_length_for_unlisted_countries() -> None:
    # Brazil is not in the SEPA table; a valid 29-character IBAN passes on mod-97 alone.
    assert is_iban("BR1800360305000010009795493C1")
    assert not is_iban("BR1800360305000010009795493C2")


@pytest.mark.parametrize("value", VALID_CARDS)
def test_is_payment_card_accepts_test_numbers(value: str) -> None:
    assert is_payment_card(value)


def test_is_payment_card_reads_integers() -> None:
    assert is_payment_card(4111111111111111)
    assert not is_payment_card(4111111111111112)
    assert not is_payment_card(-4111111111111111)
    assert not is_payment_card(True)


@pytest.mark.parametrize(
    "value",
    [
        "4111 1111 1111 1112",  # Luhn fails
        "4111111111111111111111",  # too long
        "411111111111",  # too short
        "9111111111111111",  # Luhn-valid but no issuer starts with 9
        "1234567812345670",  # Luhn-valid, no issuer
        "37828224631000",  # Amex prefix at a length Amex does not use
        "4111_1111_1111_1111",
        "4111 1111 1111 111a",
        "",
    ],
)
def test_is_payment_card_rejects_invalid_numbers(value: str) -> None:
    assert not is_payment_card(value)


@given(st.integers(min_value=0, max_value=2**32), st.sampled_from([13, 16, 19]))
def test_luhn_valid_numbers_pass_and_one_changed_digit_fails(seed: int, length: int) -> None:
    rng = random.Random(seed)
    card = make_card(rng, "4", length)
    assert is_payment_card(card)
    position = rng.randrange(length)
    replacement = rng.choice([d for d in "0123456789" if d != card[position]])
    assert not is_payment_card(card[:position] + replacement + card[position + 1 :])


def test_ip_validators() -> None:
    assert is_ipv4("192.168.0.1")
    assert not is_ipv4("256.1.1.1")
    assert not is_ipv4("192.168.000.001")
    assert not is_ipv4("::1")
    assert is_ipv6("2001:db8::1")
    assert is_ipv6("::ffff:192.0.2.1")
    assert not is_ipv6("2001:db8::g")
    assert not is_ipv6("192.168.0.1")


@pytest.mark.parametrize(
    "validator", [is_email, is_phone, is_iban, is_payment_card, is_ipv4, is_ipv6]
)
def test_validators_reject_oversized_and_non_string_input(validator: object) -> None:
    assert callable(validator)
    assert validator("1" * 100_000) is False
    assert validator(None) is False
    assert validator(b"alice@example.com") is False


# --------------------------------------------------------------------------- classification


def test_cards_with_ten_percent_garbage_are_still_cards() -> None:
    rng = random.Random(1)
    values = [make_card(rng) for _ in range(90)] + ["n/a"] * 10
    result = classify_column(values)
    assert result == ColumnClassification(PiiClass.PAYMENT_CARD, 0.9, 100)


def test_amex_numbers_are_cards_not_phones() -> None:
    # 15 digits is also a valid phone length; the card class is more specific.
    rng = random.Random(2)
    values = [make_card(rng, "37", 15) for _ in range(50)]
    assert classify_column(values).pii_class is PiiClass.PAYMENT_CARD


def test_order_ids_failing_luhn_are_not_cards() -> None:
    rng = random.Random(3)
    ids: list[str] = []
    while len(ids) < 200:
        candidate = "4" + "".join(rng.choice("0123456789") for _ in range(15))
        if not is_payment_card(candidate):
            ids.append(candidate)
    result = classify_column(ids)
    assert result.pii_class is None
    assert result.match_share == 0.0


def test_below_threshold_is_unclassified_and_reports_best_share() -> None:
    values = ["alice@example.com"] * 7 + ["hello"] * 3
    assert classify_column(values) == ColumnClassification(None, 0.7, 10)
    assert classify_column(values, threshold=0.7).pii_class is PiiClass.EMAIL


def test_missing_values_are_not_sampled() -> None:
    values = ["alice@example.com", None, float("nan"), pd.NA, "", "   ", "bob@example.org"]
    assert classify_column(values) == ColumnClassification(PiiClass.EMAIL, 1.0, 2)
    assert classify_column([None, ""]) == ColumnClassification(None, 0.0, 0)


def test_sampling_is_bounded_and_deterministic() -> None:
    values = [f"user{i}@example.com" if i % 2 else f"text {i}" for i in range(5000)]
    first = classify_column(values, sample_size=100, seed=7)
    assert first.sample_count == 100
    assert first == classify_column(values, sample_size=100, seed=7)
    assert 0.3 < first.match_share < 0.7


def test_integers_only_count_as_cards() -> None:
    assert classify_column([4111111111111111, 5555555555554444]).pii_class is PiiClass.PAYMENT_CARD
    # Ten-digit integers would pass as phone strings; as numbers they are ids.
    assert classify_column([4155552671, 3035551234]).pii_class is None


def test_ids_amounts_and_zip_codes_are_not_phones() -> None:
    rng = random.Random(6)
    order_ids = [str(rng.randrange(10**9, 10**10)) for _ in range(300)]
    amounts = [str(rng.randrange(10**6, 10**8)) for _ in range(300)]
    zip_codes = [f"{rng.randrange(10000, 99999)}-{rng.randrange(1000, 9999)}" for _ in range(300)]
    for values in (order_ids, amounts, zip_codes):
        assert classify_column(values).pii_class is None
        assert classify_column(values, column_name="order_id").pii_class is None
    # The same digits in a column named for phones are phone numbers.
    assert classify_column(order_ids, column_name="phone").pii_class is PiiClass.PHONE
    assert classify_column(order_ids, column_name="customerMobile").pii_class is PiiClass.PHONE
    # ... but a ZIP+4 code stays no phone whatever the column is called.
    assert classify_column(zip_codes, column_name="phone").pii_class is None


def test_phone_numbers_in_phone_layouts_are_found_without_a_name() -> None:
    rng = random.Random(8)
    layouts = [
        [f"+1{rng.randrange(2*10**9, 10**10)}" for _ in range(100)],
        [f"({rng.randrange(100, 999)}) {rng.randrange(100, 999)}-{rng.randrange(1000, 9999)}"
         for _ in range(100)],
        [f"0{rng.randrange(150, 179)} {rng.randrange(10**6, 10**7)}" for _ in range(100)],
    ]  # fmt: skip
    for values in layouts:
        assert classify_column(values).pii_class is PiiClass.PHONE, values[0]


def test_integer_phone_column_needs_the_name_hint() -> None:
    numbers = [4155552671, 3035551234, 2125550199] * 10
    assert classify_column(numbers).pii_class is None
    assert classify_column(numbers, column_name="mobile").pii_class is PiiClass.PHONE
    cards = [4111111111111111, 5555555555554444]
    assert classify_column(cards, column_name="phone").pii_class is PiiClass.PAYMENT_CARD


def test_classify_frame_uses_column_names_unless_told_not_to() -> None:
    digits = [str(4155550000 + i) for i in range(50)]
    frame = pd.DataFrame({"phone": digits, "order_id": digits})
    found = classify_frame(frame)
    assert found["phone"].pii_class is PiiClass.PHONE
    assert found["order_id"].pii_class is None
    assert classify_frame(frame, use_column_names=False)["phone"].pii_class is None
    table = pa.table({"tel": pa.array([4155552671, 3035551234]), "n": [4155552671, 3035551234]})
    assert {k: v.pii_class for k, v in classify_frame(table).items()} == {
        "tel": PiiClass.PHONE,
        "n": None,
    }


def test_classify_column_rejects_a_non_string_column_name() -> None:
    with pytest.raises(InvalidArgument, match="column_name must be a string, got int"):
        classify_column(["a@b.com"], column_name=3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sample_size": 0}, "sample_size must be a positive integer"),
        ({"sample_size": True}, "sample_size must be a positive integer"),
        ({"threshold": 0.0}, "threshold must be in"),
        ({"threshold": 1.5}, "threshold must be in"),
    ],
)
def test_classify_column_rejects_bad_parameters(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        classify_column(["a@b.com"], **kwargs)  # type: ignore[arg-type]


def test_classify_column_rejects_a_single_string() -> None:
    with pytest.raises(InvalidArgument, match="not a single string"):
        classify_column("alice@example.com")
    with pytest.raises(InvalidArgument, match="iterable of column values"):
        classify_column(42)  # type: ignore[arg-type]


def mixed_columns() -> dict[str, list[Any]]:
    rng = random.Random(4)
    cards = [make_card(rng, "51", 16) for _ in range(90)] + ["garbage"] * 10
    return {
        "email": [f"user{i}@example.com" for i in range(99)] + [None],
        "card": cards,
        "notes": [f"customer called about order {i}, wants refund" for i in range(100)],
        "iban": ["GB82 WEST 1234 5698 7654 32", "DE89370400440532013000"] * 50,
        "ip": [f"10.0.{i}.1" for i in range(100)],
        "phone": [f"+49 170 {1000000 + i}" for i in range(100)],
        "card_int": [4111111111111111] * 100,
        "amount": [float(i) for i in range(100)],
    }


EXPECTED = {
    "email": PiiClass.EMAIL,
    "card": PiiClass.PAYMENT_CARD,
    "notes": None,
    "iban": PiiClass.IBAN,
    "ip": PiiClass.IP_ADDRESS,
    "phone": PiiClass.PHONE,
    "card_int": PiiClass.PAYMENT_CARD,
    "amount": None,
}


def test_classify_pandas_frame() -> None:
    frame = pd.DataFrame(mixed_columns())
    frame["ip"] = frame["ip"].astype("category")
    frame["phone"] = frame["phone"].astype("string")
    assert frame["card_int"].dtype == np.int64
    result = classify_frame(frame)
    assert list(result) == list(EXPECTED)
    assert {name: r.pii_class for name, r in result.items()} == EXPECTED
    assert result["card"].match_share == 0.9
    assert result["email"].sample_count == 99
    assert result["amount"] == ColumnClassification(None, 0.0, 0)


def test_classify_arrow_table() -> None:
    columns = mixed_columns()
    table = pa.table(
        {
            **{name: pa.array(values) for name, values in columns.items() if name != "ip"},
            "ip": pa.array(columns["ip"]).dictionary_encode(),
        }
    )
    assert table.schema.field("card_int").type == pa.int64()
    result = classify_frame(table)
    assert {name: r.pii_class for name, r in result.items()} == EXPECTED
    assert result["email"].sample_count == 99


@pytest.mark.parametrize(
    "data", [None, {"email": ["a@b.com"]}, [["a@b.com"]], "a@b.com", pa.array(["a@b.com"])]
)
def test_classify_frame_rejects_non_frames(data: object) -> None:
    with pytest.raises(InvalidArgument, match="needs a pandas DataFrame or a pyarrow Table"):
        classify_frame(data)


def test_classify_frame_rejects_duplicate_column_names() -> None:
    frame = pd.DataFrame([["a@b.com", "c@d.com"]], columns=["email", "email"])
    with pytest.raises(InvalidArgument, match="duplicated: \\['email'\\]"):
        classify_frame(frame)


# --------------------------------------------------------------------------- masking


@pytest.mark.parametrize(
    ("value", "pii_class", "masked"),
    [
        ("alice.smith@example.com", PiiClass.EMAIL, "****@example.com"),
        ("4111 1111 1111 1111", PiiClass.PAYMENT_CARD, "****1111"),
        (5555555555554444, PiiClass.PAYMENT_CARD, "****4444"),
        ("GB82 WEST 1234 5698 7654 32", PiiClass.IBAN, "****5432"),
        ("+44 20 7946 0958", PiiClass.PHONE, "****58"),
        ("192.168.10.20", PiiClass.IP_ADDRESS, "****"),
        ("2001:db8::1", PiiClass.IP_ADDRESS, "****"),
        # Not valid for the class: structure unknown, so nothing survives.
        ("alice at example.com", PiiClass.EMAIL, "****"),
        ("4111 1111 1111 1112", PiiClass.PAYMENT_CARD, "****"),
        ("GB82 WEST 1234 5698 7654 33", PiiClass.IBAN, "****"),
        (None, PiiClass.EMAIL, "****"),
        ("alice@example.com", "email", "****@example.com"),
    ],
)
def test_mask_value(value: object, pii_class: PiiClass, masked: str) -> None:
    assert mask_value(value, pii_class) == masked


@given(st.integers(min_value=0, max_value=2**32), st.sampled_from(["4", "51", "2221", "6011"]))
def test_masked_card_reveals_only_the_last_four_digits(seed: int, prefix: str) -> None:
    card = make_card(random.Random(seed), prefix, 16)
    masked = mask_value(card, PiiClass.PAYMENT_CARD)
    assert masked == "****" + card[-4:]
    assert sum(char.isdigit() for char in masked) == 4


@given(st.text(max_size=60), st.sampled_from(list(PiiClass)))
def test_masking_never_reveals_more_than_documented(value: str, pii_class: PiiClass) -> None:
    masked = mask_value(value, pii_class)
    assert masked.startswith("****")
    revealed = masked[4:]
    if pii_class is PiiClass.EMAIL:
        assert revealed == "" or (revealed.startswith("@") and value.endswith(revealed))
    else:
        digits = {PiiClass.PAYMENT_CARD: 4, PiiClass.IBAN: 4, PiiClass.PHONE: 2}
        assert len(revealed) <= digits.get(pii_class, 0)


def test_mask_value_rejects_unknown_class() -> None:
    with pytest.raises(InvalidArgument, match="unknown PII class 'ssn'; use one of: email"):
        mask_value("alice@example.com", "ssn")  # type: ignore[arg-type]
