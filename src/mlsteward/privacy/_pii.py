"""Automatic PII classification of table columns for the data catalog.

Each column gets at most one :class:`PiiClass`, found by running format validators (Luhn for
payment cards, ISO 13616 mod-97 for IBANs, ...) over a deterministic sample of its values. The
result is a suggestion: the catalog stores it and users may edit it.
"""

from __future__ import annotations

import enum
import ipaddress
import math
import numbers
import random
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mlsteward.errors import InvalidArgument

__all__ = [
    "ColumnClassification",
    "PiiClass",
    "classify_column",
    "classify_frame",
    "is_email",
    "is_iban",
    "is_ipv4",
    "is_ipv6",
    "is_payment_card",
    "is_phone",
    "is_phone_column_name",
    "mask_value",
]

# No real value of any class is longer than this; longer input is rejected before any regex runs.
_MAX_LEN = 320


class PiiClass(enum.StrEnum):
    """The kinds of personal data the catalog detects."""

    EMAIL = "email"
    PHONE = "phone"
    IBAN = "iban"
    PAYMENT_CARD = "payment_card"
    IP_ADDRESS = "ip_address"


# --------------------------------------------------------------------------- email

_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_DOMAIN_LABEL = re.compile(r"[^\W_](?:[\w-]{0,61}[^\W_])?")
_TLD = re.compile(r"(?:[^\W\d_]{2,63}|xn--[A-Za-z0-9-]{1,59})")


def is_email(value: str) -> bool:
    """Whether ``value`` is an email address ``local@domain`` (RFC 5321 dot-atom subset).

    The local part is 1-64 ASCII ``atext`` characters with single, inner dots (quoted local parts
    are not accepted); the domain has at least two labels of letters, digits and inner hyphens
    (international letters allowed) and an alphabetic or ``xn--`` top-level label. At most 254
    characters in total; surrounding whitespace is not stripped.
    """
    if not isinstance(value, str) or len(value) > 254 or value.count("@") != 1:
        return False
    local, domain = value.split("@")
    if not 1 <= len(local) <= 64 or not _EMAIL_LOCAL.fullmatch(local):
        return False
    labels = domain.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels):
        return False
    return _TLD.fullmatch(labels[-1]) is not None


# --------------------------------------------------------------------------- phone

_PHONE_CHARS = re.compile(r"\+?[0-9()\-. ]+")
_DATE_LIKE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{4}")
_DECIMAL_LIKE = re.compile(r"\d+\.\d+")
# 1 234 567 / 1.234.567 / 12-345-678: a number written with thousands separators.
_THOUSANDS_LIKE = re.compile(r"[1-9]\d{0,2}(?:([ .\-])\d{3})(?:\1\d{3})*")
_ZIP_PLUS_4 = re.compile(r"\d{5}-\d{4}")
# Column names that make a bare digit run a phone number (see ``classify_column``): words of
# the name (split at non-letters and camelCase), or these stems anywhere ("phonenumber").
_PHONE_WORDS = frozenset({"tel", "tele", "telephone", "cell", "fax", "msisdn", "handy"})
_PHONE_STEMS = ("phone", "mobile")
_NAME_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def is_phone(value: str, *, bare_digits: bool = False) -> bool:
    """Whether ``value`` is a phone number in E.164 or a common national layout.

    Only digits, a leading ``+``, one pair of parentheses, ``-``, ``.`` and spaces are allowed,
    and 7-15 digits must remain, not all the same digit. The value must also *look* like a
    phone number: a leading ``+`` (``+14155552671``), an area code in parentheses
    (``(030) 123-4567``) or at least two digit groups split by separators (``555.123.4567``,
    ``0170 1234567``). A bare digit run (``4155552671``) is an id, an amount or a zip code as
    often as a phone number, so it only passes with ``bare_digits=True`` (what a column named
    "phone" implies). Dates (``2024-01-31``), decimals (``1234567.89``) and numbers with
    thousands separators (``1 234 567``) and ZIP+4 codes (``94103-1234``) are never phone numbers.
    """
    if not isinstance(value, str) or len(value) > 40:
        return False
    text = value.strip()
    if not _PHONE_CHARS.fullmatch(text):
        return False
    if text.count("(") != text.count(")") or text.count("(") > 1:
        return False
    if "(" in text and text.index("(") > text.index(")"):
        return False
    if _DATE_LIKE.fullmatch(text) or _DECIMAL_LIKE.fullmatch(text):
        return False
    digits = re.sub(r"\D", "", text)
    if not 7 <= len(digits) <= 15 or len(set(digits)) == 1:
        return False
    if text.startswith("+") or "(" in text:
        return True
    if text.isdigit():
        return bare_digits
    groups = [group for group in re.split(r"[\-. ]+", text) if group]
    return (
        len(groups) >= 2 and not _THOUSANDS_LIKE.fullmatch(text) and not _ZIP_PLUS_4.fullmatch(text)
    )


def is_phone_column_name(name: str) -> bool:
    """Whether a column name says it holds phone numbers.

    True when the name contains "phone" or "mobile", or has a word "tel", "telephone", "cell",
    "fax", "msisdn" or "handy" (``customer_phone``, ``mobileNo``, ``tel``, ``fax_number``; not
    ``hotel`` or ``cancellation``).
    """
    if not isinstance(name, str) or len(name) > _MAX_LEN:
        return False
    lowered = name.lower()
    if any(stem in lowered for stem in _PHONE_STEMS):
        return True
    return any(word.lower() in _PHONE_WORDS for word in _NAME_WORD.findall(name))


# --------------------------------------------------------------------------- IBAN

# IBAN length per country (ISO 13616 registry) for the SEPA countries; other country codes are
# checked against the generic 15-34 rule only.
_IBAN_LENGTHS: Mapping[str, int] = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
    "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GI": 23, "GR": 27, "HR": 21, "HU": 28,
    "IE": 22, "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31,
    "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
    "VA": 22,
}  # fmt: skip

_IBAN_SHAPE = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")


def _iban_compact(value: str) -> str:
    return value.replace(" ", "").upper()


def is_iban(value: str) -> bool:
    """Whether ``value`` is an IBAN: country code, two check digits, BBAN, mod-97 remainder 1.

    Spaces are ignored and letters may be in either case. The length must match the country for
    the SEPA countries listed here, else lie in 15-34. Check digits ``00``, ``01`` and ``99``
    are never issued and are rejected.
    """
    if not isinstance(value, str) or len(value) > 64:
        return False
    iban = _iban_compact(value)
    if not _IBAN_SHAPE.fullmatch(iban) or iban[2:4] in {"00", "01", "99"}:
        return False
    expected = _IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        return False
    rearranged = iban[4:] + iban[:4]
    # int(ch, 36) maps 0-9 to themselves and A-Z to 10-35, exactly as ISO 13616 specifies.
    numeric = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(numeric) % 97 == 1


# --------------------------------------------------------------------------- payment card

# (first digits from, to inclusive, allowed lengths) per issuer; prefixes compared on equal width.
_CARD_ISSUERS: tuple[tuple[str, int, int, frozenset[int]], ...] = (
    ("visa", 4, 4, frozenset({13, 16, 19})),
    ("mastercard", 51, 55, frozenset({16})),
    ("mastercard", 2221, 2720, frozenset({16})),
    ("amex", 34, 34, frozenset({15})),
    ("amex", 37, 37, frozenset({15})),
    ("discover", 6011, 6011, frozenset(range(16, 20))),
    ("discover", 644, 649, frozenset(range(16, 20))),
    ("discover", 65, 65, frozenset(range(16, 20))),
    ("unionpay", 62, 62, frozenset(range(16, 20))),
    ("jcb", 3528, 3589, frozenset(range(16, 20))),
    ("diners", 300, 305, frozenset(range(14, 20))),
    ("diners", 36, 36, frozenset(range(14, 20))),
    ("diners", 38, 39, frozenset(range(14, 20))),
    ("maestro", 50, 50, frozenset(range(13, 20))),
    ("maestro", 56, 58, frozenset(range(13, 20))),
    ("maestro", 63, 63, frozenset(range(13, 20))),
    ("maestro", 67, 67, frozenset(range(13, 20))),
)
_CARD_CHARS = re.compile(r"[0-9][0-9 \-]*[0-9]")


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _card_issuer(digits: str) -> str | None:
    for name, low, high, lengths in _CARD_ISSUERS:
        width = len(str(low))
        if len(digits) in lengths and low <= int(digits[:width]) <= high:
            return name
    return None


def is_payment_card(value: str | int) -> bool:
    """Whether ``value`` is a payment card number (PAN).

    Spaces and dashes are ignored; 13-19 digits must remain, start with a known issuer prefix at a
    length that issuer uses (Visa 4, Mastercard 51-55 and 2221-2720, Amex 34/37, Discover 6011,
    644-649 and 65, UnionPay 62, JCB 3528-3589, Diners 300-305/36/38-39, Maestro) and pass the
    Luhn check. A non-negative ``int`` is read as its decimal digits (``bool`` is rejected).
    """
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        if value < 0:
            return False
        value = str(value)
    if not isinstance(value, str) or len(value) > 40:
        return False
    text = value.strip()
    if not _CARD_CHARS.fullmatch(text):
        return False
    digits = text.replace(" ", "").replace("-", "")
    if not 13 <= len(digits) <= 19:
        return False
    return _card_issuer(digits) is not None and _luhn_valid(digits)


# --------------------------------------------------------------------------- IP addresses


def is_ipv4(value: str) -> bool:
    """Whether ``value`` is a dotted-quad IPv4 address (``ipaddress`` rules, no leading zeros)."""
    if not isinstance(value, str) or len(value) > 15:
        return False
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


def is_ipv6(value: str) -> bool:
    """Whether ``value`` is an IPv6 address, optionally with a ``%zone`` suffix."""
    if not isinstance(value, str) or len(value) > 64:
        return False
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


def _is_ip(value: str) -> bool:
    return is_ipv4(value) or is_ipv6(value)


# --------------------------------------------------------------------------- classification

# Most specific first: a card number or IBAN is also a plausible phone digit string, never the
# other way round, so when several classes reach the threshold the earliest one wins.
_SPECIFICITY: tuple[tuple[PiiClass, Callable[[str], bool]], ...] = (
    (PiiClass.PAYMENT_CARD, is_payment_card),
    (PiiClass.IBAN, is_iban),
    (PiiClass.EMAIL, is_email),
    (PiiClass.IP_ADDRESS, _is_ip),
    (PiiClass.PHONE, is_phone),
)
_PHONE_DIGITS = range(7, 16)


@dataclass(frozen=True, slots=True)
class ColumnClassification:
    """The PII class suggested for one column.

    ``pii_class`` is ``None`` when no class reached the threshold. ``match_share`` is the share of
    sampled values that matched ``pii_class`` (or, when it is ``None``, the best share any class
    reached), in ``[0, 1]``. ``sample_count`` is the number of non-null values examined.
    """

    pii_class: PiiClass | None
    match_share: float
    sample_count: int


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, numbers.Number):
        return False
    # pandas.NA / NaT: comparing them with themselves is NA (truth value raises) or False.
    try:
        return bool(value != value)
    except (TypeError, ValueError):
        return True


def classify_column(
    values: Iterable[object],
    *,
    sample_size: int = 1000,
    threshold: float = 0.8,
    seed: int = 0,
    column_name: str | None = None,
) -> ColumnClassification:
    """Suggest the PII class of a column from a deterministic sample of its values.

    Missing values (``None``, NaN, pandas NA, empty or blank strings) are skipped; of the rest,
    up to ``sample_size`` are drawn with a ``random.Random(seed)`` sample, so the same column gives
    the same answer. Strings are tried against every class; integers (not ``bool``) only against
    :attr:`PiiClass.PAYMENT_CARD`, because storing as a number keeps a card number intact but drops
    the leading zeros and ``+`` of phone numbers; other values never match. A class is assigned
    when at least ``threshold`` of the sample matches it; among several, the most specific wins
    (payment card, IBAN, email, IP address, phone).

    ``column_name`` is an optional hint: when it says the column holds phone numbers (see
    :func:`is_phone_column_name`), bare 7-15 digit strings and integers count as phones too;
    otherwise they never do, since ids, amounts and zip codes look the same.

    Raises :class:`~mlsteward.errors.InvalidArgument` when ``sample_size < 1``, ``threshold`` is
    not in ``(0, 1]`` or ``values`` is a string (a column is an iterable of values).
    """
    if isinstance(values, str | bytes):
        raise InvalidArgument(
            "classify_column needs an iterable of column values, not a single string; "
            "pass e.g. a list or a pandas Series"
        )
    if isinstance(sample_size, bool) or not isinstance(sample_size, int) or sample_size < 1:
        raise InvalidArgument(f"sample_size must be a positive integer, got {sample_size!r}")
    if not isinstance(threshold, int | float) or not 0.0 < threshold <= 1.0:
        raise InvalidArgument(f"threshold must be in (0, 1], got {threshold!r}")
    if column_name is not None and not isinstance(column_name, str):
        raise InvalidArgument(f"column_name must be a string, got {type(column_name).__name__}")
    phone_named = column_name is not None and is_phone_column_name(column_name)
    try:
        present = [value for value in values if not _is_missing(value)]
    except TypeError as exc:
        raise InvalidArgument(
            f"classify_column needs an iterable of column values, got {type(values).__name__}"
        ) from exc
    if len(present) > sample_size:
        # Reproducible sampling, not security: a seeded PRNG is what makes the answer repeatable.
        rng = random.Random(seed)  # noqa: S311
        positions = sorted(rng.sample(range(len(present)), sample_size))
        present = [present[position] for position in positions]
    if not present:
        return ColumnClassification(None, 0.0, 0)

    matches = dict.fromkeys(PiiClass, 0)
    for value in present:
        if isinstance(value, str):
            for pii_class, validator in _SPECIFICITY:
                bare_phone = pii_class is PiiClass.PHONE and phone_named
                if validator(value) or (bare_phone and is_phone(value, bare_digits=True)):
                    matches[pii_class] += 1
        elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
            if is_payment_card(int(value)):
                matches[PiiClass.PAYMENT_CARD] += 1
            if phone_named and is_phone(str(int(value)), bare_digits=True):
                matches[PiiClass.PHONE] += 1

    count = len(present)
    for pii_class, _ in _SPECIFICITY:
        share = matches[pii_class] / count
        if share >= threshold:
            return ColumnClassification(pii_class, share, count)
    return ColumnClassification(None, max(matches.values()) / count, count)


def _pandas_columns(frame: Any) -> list[tuple[str, Iterable[object] | None]]:
    api = sys.modules["pandas"].api.types
    columns: list[tuple[str, Iterable[object] | None]] = []
    for name, series in frame.items():
        dtype = series.dtype
        textual = (
            api.is_object_dtype(dtype)
            or api.is_string_dtype(dtype)
            or isinstance(dtype, sys.modules["pandas"].CategoricalDtype)
        )
        integral = api.is_integer_dtype(dtype) and not api.is_bool_dtype(dtype)
        columns.append((str(name), series.dropna() if textual or integral else None))
    return columns


def _arrow_columns(table: Any) -> list[tuple[str, Iterable[object] | None]]:
    types = sys.modules["pyarrow"].types
    columns: list[tuple[str, Iterable[object] | None]] = []
    for field, column in zip(table.schema, table.columns, strict=True):
        kind = field.type.value_type if types.is_dictionary(field.type) else field.type
        usable = (
            types.is_string(kind)
            or types.is_large_string(kind)
            or types.is_string_view(kind)
            or types.is_integer(kind)
        )
        columns.append((str(field.name), column.drop_null().to_pylist() if usable else None))
    return columns


def classify_frame(
    data: object,
    *,
    sample_size: int = 1000,
    threshold: float = 0.8,
    seed: int = 0,
    use_column_names: bool = True,
) -> dict[str, ColumnClassification]:
    """Suggest a PII class for every column of a pandas ``DataFrame`` or pyarrow ``Table``.

    String columns (pandas object, string and categorical dtypes; arrow string, large string,
    string view and dictionaries of those) are classified with :func:`classify_column`, as are
    integer columns, which can only be found to hold payment cards. Other columns (floats, bools,
    dates, binary, nested) get ``ColumnClassification(None, 0.0, 0)``: floats above 2**53 cannot
    hold a 16-digit card number exactly. Keys are the column names as strings, in column order.
    With ``use_column_names`` (the default) each name is passed to :func:`classify_column` as
    its ``column_name`` hint, so a column named e.g. "phone" may hold bare digit phone numbers.

    Raises :class:`~mlsteward.errors.InvalidArgument` for anything that is not a DataFrame or
    Table, for duplicate column names and for the bad parameters :func:`classify_column` rejects.
    """
    pandas = sys.modules.get("pandas")
    pyarrow = sys.modules.get("pyarrow")
    if pandas is not None and isinstance(data, pandas.DataFrame):
        columns = _pandas_columns(data)
    elif pyarrow is not None and isinstance(data, pyarrow.Table):
        columns = _arrow_columns(data)
    else:
        raise InvalidArgument(
            f"classify_frame needs a pandas DataFrame or a pyarrow Table, got "
            f"{type(data).__name__}; for a single column use classify_column"
        )
    names = [name for name, _ in columns]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InvalidArgument(
            f"column names must be unique to classify them, duplicated: {duplicates}; "
            "rename the columns first",
            details={"duplicates": duplicates},
        )
    return {
        name: (
            ColumnClassification(None, 0.0, 0)
            if values is None
            else classify_column(
                values,
                sample_size=sample_size,
                threshold=threshold,
                seed=seed,
                column_name=name if use_column_names else None,
            )
        )
        for name, values in columns
    }


# --------------------------------------------------------------------------- masking

_FULL_MASK = "****"


def mask_value(value: object, pii_class: PiiClass) -> str:
    """Mask a value for display in failing-row samples.

    What survives: the domain of a valid email (``****@example.com``), the last 4 digits of a
    valid payment card or IBAN (``****1111``), the last 2 digits of a valid phone number
    (``****67``) and nothing of an IP address. A value that is not valid for ``pii_class`` is
    masked completely (``****``), since its structure is unknown.

    Raises :class:`~mlsteward.errors.InvalidArgument` for an unknown ``pii_class``.
    """
    try:
        pii_class = PiiClass(pii_class)
    except ValueError as exc:
        known = ", ".join(member.value for member in PiiClass)
        raise InvalidArgument(f"unknown PII class {pii_class!r}; use one of: {known}") from exc
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = str(int(value))
    if not isinstance(value, str):
        return _FULL_MASK
    if pii_class is PiiClass.EMAIL and is_email(value):
        return f"{_FULL_MASK}@{value.rsplit('@', 1)[1]}"
    if pii_class is PiiClass.PAYMENT_CARD and is_payment_card(value):
        return _FULL_MASK + re.sub(r"\D", "", value)[-4:]
    if pii_class is PiiClass.IBAN and is_iban(value):
        return _FULL_MASK + _iban_compact(value)[-4:]
    if pii_class is PiiClass.PHONE and is_phone(value):
        return _FULL_MASK + re.sub(r"\D", "", value)[-2:]
    return _FULL_MASK
