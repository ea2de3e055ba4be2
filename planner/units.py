"""Units in one place. GiB = 2**30 bytes (what CUDA, PyTorch and vLLM report); GB = 10**9 bytes (what vendors market).

Precisions are stored as bits so that INT4 is 4 bits, never ``4 // 8 == 0`` bytes.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

# ---- precisions: the one list (weights; the KV cache adds "auto") -------------------------------------------------
Precision = Literal["fp32", "fp16", "bf16", "fp8", "int8", "int4"]
KVDtype = Literal["auto", "fp32", "fp16", "bf16", "fp8"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
KV_CACHE_DTYPES: tuple[str, ...] = get_args(KVDtype)
WEIGHT_BITS = {"fp32": 32, "fp16": 16, "bf16": 16, "fp8": 8, "int8": 8, "int4": 4}  # bits per stored weight

# ---- parallelism ------------------------------------------------------------------------------------------------
TP_SIZES = (1, 2, 4, 8, 16, 32, 64)  # tensor-parallel sizes considered: powers of two (heads and NVLink groups)

GIB = 2**30  # bytes in a gibibyte
GB = 10**9  # bytes in a gigabyte
MIB = 2**20
KIB = 2**10


def gib(nbytes: float) -> float:
    """Bytes to GiB."""
    return nbytes / GIB


def gb(nbytes: float) -> float:
    """Bytes to GB (decimal)."""
    return nbytes / GB


def gib_to_bytes(x_gib: float) -> int:
    """GiB to whole bytes, rounded down (a capacity is never rounded up)."""
    return int(math.floor(x_gib * GIB))


def bits_to_bytes(nbits: float) -> int:
    """Bits to whole bytes, rounded up (a demand is never rounded down)."""
    return int(math.ceil(nbits / 8))


HOURS_PER_MONTH = 730  # 365 * 24 / 12, the convention cloud price pages use
