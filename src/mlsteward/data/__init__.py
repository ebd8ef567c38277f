"""Data: dataset versions, catalog, lineage, mergeable column profiles and validation.

So far: mergeable column profiles (Apache DataSketches) and PII column classification.
"""

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
from ._pii import mask_value as mask_value
from ._profile import ColumnProfile as ColumnProfile
from ._profile import DatasetProfile as DatasetProfile
from ._profile import Histogram as Histogram
from ._profile import profile_frame as profile_frame
from ._profile import profile_parquet as profile_parquet

__all__ = [
    "ColumnClassification",
    "ColumnProfile",
    "DatasetProfile",
    "Histogram",
    "PiiClass",
    "classify_column",
    "classify_frame",
    "is_email",
    "is_iban",
    "is_ipv4",
    "is_ipv6",
    "is_payment_card",
    "is_phone",
    "mask_value",
    "profile_frame",
    "profile_parquet",
]
