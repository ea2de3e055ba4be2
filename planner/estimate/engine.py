"""The serving engine a deployment runs on (vLLM, a version and its settings) and what that version budgets.

vLLM's KV-cache budget has changed several times. Every rule here names the vLLM code, pull request or release it
comes from (docs/sources.md: vllm-version-rules; the logs that check them are in tests/data/vllm_logs.yaml):

    family      versions                 KV budget on each device
    v0-device   V0 <= 0.6.3              total x util - (total - free after profiling): everything on the device
                                         counts, the CUDA context included (PR #2031 worker.py; PR #9352)
    v0-profile  V0 0.6.4 - 0.10.x        total x util - (weights + torch peak increase + non-torch increase)
                                         from a baseline snapshot (PRs #9352, #10511, #12126; V0 removed in 0.11)
    v1-device   V1 0.7 - 0.9.1           total x util - (torch peak + device-wide non-torch): the CUDA context
                                         and other processes count (gpu_worker.py; described in PR #19312)
    v1-profile  V1 >= 0.9.2              total x util - (weights + torch peak increase + non-torch forward increase),
                                         snapshot after NCCL init (PR #19312)
    + graphs    V1 >= 0.21.0             the CUDA-graph estimate is subtracted as well (PR #30515, on by default
                                         since v0.21.0: "CUDA graph memory profiling is enabled (default since
                                         v0.21.0)"); never with enforce_eager
    fixed       --kv-cache-memory-bytes  the KV pool is the given size, no profiling (PR #21489, ~v0.10.1)

V1 is the default engine from 0.8.0 (``VLLM_USE_V1``); before 0.8 V1 is opt-in, from 0.11 V0 is gone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from planner.errors import InputError, not_one_of

if TYPE_CHECKING:
    from planner.inputs.catalog import GPU

ENGINES = ("vllm",)
USAGES = ("serve", "offline")
CORES = ("auto", "v0", "v1")
# The default: vLLM 0.26.0, the newest release seen in public start-up logs when this was written (vLLM issue #49878,
# "v0.26" log; docs/sources.md: vllm-version-rules). README "Engine profile" names it.
DEFAULT_VLLM_VERSION = "0.26.0"
# vLLM's CUDA default block size (tokens per KV block): vllm/config CacheConfig.block_size = 16.
DEFAULT_BLOCK_SIZE = 16

Version = tuple[int, int, int]


@lru_cache(maxsize=256)
def parse_version(text: str) -> Version:
    """'0.9.2' / '0.9' / 'v0.10.1.post1' -> (0, 9, 2); anything else is an InputError."""
    m = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.(\d+))?(?:[.+-]?(?:post|rc|dev)\w*)?", str(text).strip())
    if not m:
        raise InputError(f"--vllm-version: '{text}' is not a vLLM version; give X.Y or X.Y.Z, e.g. {DEFAULT_VLLM_VERSION}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


@dataclass(frozen=True)
class MemoryFit:
    """Runtime terms fitted on a user's own vLLM start-up logs (`planner calibrate --vllm-log`) for one GPU type,
    version family and TP size: they replace the built-in non-torch figure and scale the activation peak there."""

    gpu: str
    family: str  # rules_for(profile).family of the logs
    tp: int
    non_torch_bytes: int | None  # per device; None: the built-in figure
    activation_factor: float = 1.0  # logged activation peak / the built-in formula's
    logs: int = 0
    source: str = ""


@dataclass(frozen=True)
class EngineProfile:
    """How one engine is started. ``None`` means "vLLM's default for this version, GPU and usage"."""

    engine: str = "vllm"
    version: str = DEFAULT_VLLM_VERSION
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    enforce_eager: bool = False
    block_size: int = DEFAULT_BLOCK_SIZE
    kv_cache_memory_bytes: int | None = None  # --kv-cache-memory-bytes: a fixed KV pool per device
    usage: str = "serve"  # `vllm serve` (OPENAI_API_SERVER) or the `LLM` class (LLM_CLASS)
    chunked_prefill: bool | None = None  # None: the version's default
    gpu_memory_utilization: float | None = None  # None: the caller's value
    core: str = "auto"  # "v0" / "v1" (VLLM_USE_V1) or "auto": the version's default engine
    memory_fits: tuple[MemoryFit, ...] = ()  # from the scenario's calibration file (`memory:`), else none

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise InputError(not_one_of("--engine: ", self.engine, ENGINES))
        if self.usage not in USAGES:
            raise InputError(not_one_of("--usage: ", self.usage, USAGES))
        if self.core not in CORES:
            raise InputError(not_one_of("engine core: ", self.core, CORES))
        v = parse_version(self.version)
        if self.core == "v0" and v >= (0, 11, 0):
            raise InputError(f"--vllm-version: {self.version} has no V0 engine (removed in 0.11); use 0.10 or older")
        if self.core == "v1" and v < (0, 7, 0):
            raise InputError(f"--vllm-version: {self.version} has no V1 engine (added in 0.7)")
        if self.block_size < 1 or self.block_size & (self.block_size - 1):
            raise InputError(f"--block-size: {self.block_size} is not a power of two (vLLM: 1, 8, 16, 32, 64, 128)")
        for name, val in (("--max-num-seqs", self.max_num_seqs), ("--max-batched-tokens", self.max_num_batched_tokens),
                          ("--kv-cache-memory", self.kv_cache_memory_bytes)):
            if val is not None and val < 1:
                raise InputError(f"{name}: {val} must be at least 1")

    @property
    def version_tuple(self) -> Version:
        return parse_version(self.version)

    @property
    def v1(self) -> bool:
        """V1 engine: chosen, or the version's default (V1 from 0.8.0, VLLM_USE_V1 default flipped in PR #12824)."""
        if self.core != "auto":
            return self.core == "v1"
        return self.version_tuple >= (0, 8, 0)

    def fit_for(self, gpu: str, family: str, tp: int) -> tuple[int | None, float]:
        """(non-torch bytes or None, activation factor) the calibration fitted for this GPU type, family and TP: the
        non-torch figure only at the same TP size, the activation factor from the same TP or else the nearest one."""
        fits = [f for f in self.memory_fits if f.gpu == gpu and f.family == family]
        if not fits:
            return None, 1.0
        same = [f for f in fits if f.tp == tp]
        near = same[0] if same else min(fits, key=lambda f: (abs(f.tp - tp), f.tp))
        return (same[0].non_torch_bytes if same else None), near.activation_factor

    def with_overrides(self, **kw: Any) -> EngineProfile:
        """A copy with the given fields replaced, ``None`` values skipped."""
        return replace(self, **{k: v for k, v in kw.items() if v is not None})


@dataclass(frozen=True)
class VersionRules:
    """What one vLLM version family subtracts from total x gpu_memory_utilization, and how it profiles."""

    family: str  # v0-device, v0-profile, v1-device, v1-profile
    budgets_cuda_graphs: bool  # the CUDA-graph estimate is inside the budget (>= 0.21, not enforce_eager)
    sampler_in_profile: bool  # the profiling run samples max_num_seqs rows (V0 always; V1 from 0.8, PRs #13594/#14508)
    mla_cache: str  # "decompressed" (no MLA: per-head K/V, head dim padded to 256), "padded" (576 -> 640), "latent"
    chunked_prefill_tokens: int  # max_num_batched_tokens when V0 chunks prefill (512, then 2048 from PR #10544)
    source: str


def rules_for(profile: EngineProfile) -> VersionRules:
    """The rules of the profile's version family (table in the module docstring)."""
    v = profile.version_tuple
    graphs = profile.v1 and v >= (0, 21, 0) and not profile.enforce_eager
    if not profile.v1:
        family = "v0-device" if v <= (0, 6, 3) else "v0-profile"
        # MLA latent caching ~v0.7.1 (precursor PR #10927); V0 pads each 576-element entry to 640
        # (cache_engine.py _align_cache, VLLM_CUDA_MEM_ALIGN_KV_CACHE on by default).
        mla = "padded" if v >= (0, 7, 1) else "decompressed"
        chunk = 2048 if v >= (0, 6, 5) else 512  # PR #10544 (Nov 2024) raised the chunked-prefill default to 2048
        src = "PR #2031 (peak = total - free)" if family == "v0-device" else "PRs #9352, #10511, #12126 (memory_profiling)"
        return VersionRules(family, False, True, mla, chunk, src)
    family = "v1-profile" if v >= (0, 9, 2) else "v1-device"
    src = "PR #19312 (memory_profiling in gpu_worker)" if family == "v1-profile" else "gpu_worker.py before PR #19312"
    if graphs:
        src += "; PR #30515 (CUDA graphs budgeted, default since v0.21.0)"
    return VersionRules(family, graphs, v >= (0, 8, 0), "latent", 2048, src)


def _large_gpu(gpu: GPU) -> bool:
    """vLLM's "large" defaults: GPUs of >= 70 GiB other than A100 (PR #17073 memory test; PR #17885 keeps A100
    on the small budget). docs/sources.md: vllm-batch-defaults."""
    return gpu.memory_gib >= 70 and "a100" not in gpu.id and "a800" not in gpu.id


def chunked_prefill_on(profile: EngineProfile, max_model_len: int) -> bool:
    """V1 always chunks prefill (PR #11061). V0's OpenAI server turns it on above 32K tokens of context
    (issue #10517: 29k fails while 35k starts; vllm/engine/arg_utils.py), the LLM class does not."""
    if profile.v1:
        return True
    if profile.chunked_prefill is not None:
        return profile.chunked_prefill
    return profile.usage == "serve" and max_model_len > 32768


def batched_tokens(profile: EngineProfile, gpu: GPU, max_model_len: int) -> int:
    """max_num_batched_tokens of the profiling run (the user's value, else the version's default).

    V1 (PR #12369, PR #17073, PR #17885): large GPUs 8192 (serve) / 16384 (offline), others 2048 / 8192.
    V0: without chunked prefill max(max_model_len, 2048) (scheduler config), with it 512 before 0.6.5 and 2048 after.
    """
    if profile.max_num_batched_tokens:
        return profile.max_num_batched_tokens
    if profile.v1:
        large = _large_gpu(gpu)
        return (8192 if large else 2048) if profile.usage == "serve" else (16384 if large else 8192)
    if chunked_prefill_on(profile, max_model_len):
        return rules_for(profile).chunked_prefill_tokens
    return max(max_model_len, 2048)


def num_seqs(profile: EngineProfile, gpu: GPU) -> int:
    """max_num_seqs: the user's value, else 256 (V0, and V1 GPUs below the large class), 1024 on large GPUs in V1
    (PR #16158, ~0.8.4, kept 1024 only for big GPUs). docs/sources.md: vllm-batch-defaults."""
    if profile.max_num_seqs:
        return profile.max_num_seqs
    return 1024 if profile.v1 and _large_gpu(gpu) else 256


def sampler_rows(profile: EngineProfile, gpu: GPU, max_model_len: int) -> int:
    """Logit rows of the profiling run's sampler: V0 samples the last token of every dummy sequence
    (model_runner.py profile_run: max_num_seqs sequences); V1 >= 0.8 ``_dummy_sampler_run`` uses
    min(max_num_seqs, max_num_batched_tokens); V1 before 0.8 ran no sampler in the profile."""
    rules = rules_for(profile)
    if not rules.sampler_in_profile:
        return 0
    s = num_seqs(profile, gpu)
    return min(s, batched_tokens(profile, gpu, max_model_len)) if profile.v1 else s


DEFAULT_PROFILE = EngineProfile()
