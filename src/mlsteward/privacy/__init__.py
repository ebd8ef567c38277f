"""Privacy: PII detection with checksum validators (Luhn, IBAN mod-97) and masking."""

from __future__ import annotations

from ._pii import ColumnClassification as ColumnClassification
from ._pii import PiiClass as PiiClass
from ._pii import classify_column as classify_column
from ._pii import classify_frame as classify_frame
from ._pii import is_email as is_email
from ._pii import is_iban as is_iban
from ._pii import is_ipv4 as is_ipv4
from ._pii import is_ipv6 as is_ipv6
from ._pii import is_payment_card as is_payment_card
from ._pii import is_phone as is_phone
from ._pii import is_phone_column_name as is_phone_column_name
from ._pii import mask_value as mask_value

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
