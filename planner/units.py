"""Units in one place. GiB = 2**30 bytes (what CUDA, PyTorch and vLLM report); GB = 10**9 bytes (what vendors market).

Precisions are stored as bits so that INT4 is 4 bits, never ``4 // 8 == 0`` bytes.
"""

from __future__ import annotations

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

HOURS_PER_MONTH = 730  # 365 * 24 / 12, the convention cloud price pages use
