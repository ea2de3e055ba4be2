#!/bin/sh
# vLLM launch lines for the plan of scenario 'chinese-model-fleet' (planner plans/launch.py).
# Run each block on the instance it names.
# Budgeted under the memory rules of vLLM 0.26.0 (planner/estimate/engine.py); another version budgets differently.
set -e

# replica glm4-chat/r1 on runpod:1x_RTX3090#1
CUDA_VISIBLE_DEVICES=0 vllm serve THUDM/glm-4-9b-chat --tensor-parallel-size 1 --max-model-len 8192 --max-num-seqs 256 --gpu-memory-utilization 0.9 --port 8000 &

# replica glm4-chat/r2 on runpod:1x_A100-80GB#1
CUDA_VISIBLE_DEVICES=0 vllm serve THUDM/glm-4-9b-chat --tensor-parallel-size 1 --max-model-len 8192 --max-num-seqs 256 --gpu-memory-utilization 0.4143 --port 8000 &

# replica chatglm3/r1 on runpod:1x_A100-80GB#1
# note: the plan assumes int8 weights: serve an INT8 checkpoint of this model (AWQ/GPTQ/W8A8), vLLM does not quantize to it at start-up
CUDA_VISIBLE_DEVICES=0 vllm serve THUDM/chatglm3-6b --tensor-parallel-size 1 --max-model-len 8192 --max-num-seqs 256 --gpu-memory-utilization 0.1409 --port 8001 &

# replica deepseek-lite/r1 on runpod:1x_MI300X#1
CUDA_VISIBLE_DEVICES=0 vllm serve deepseek-ai/DeepSeek-V2-Lite --tensor-parallel-size 1 --max-model-len 16384 --max-num-seqs 1024 --gpu-memory-utilization 0.2478 --port 8000 &

# replica minicpm/r1 on runpod:1x_A100-80GB#1
CUDA_VISIBLE_DEVICES=0 vllm serve openbmb/MiniCPM-2B-sft-bf16 --tensor-parallel-size 1 --max-model-len 4096 --max-num-seqs 256 --gpu-memory-utilization 0.2282 --port 8002 &

# replica qwen-7b/r1 on runpod:1x_MI300X#1
# note: the plan assumes int4 weights: serve an INT4 checkpoint of this model (AWQ/GPTQ/W8A8), vLLM does not quantize to it at start-up
CUDA_VISIBLE_DEVICES=0 vllm serve Qwen/Qwen2.5-7B --tensor-parallel-size 1 --max-model-len 4096 --max-num-seqs 1024 --gpu-memory-utilization 0.1175 --port 8001 &

# replica qwen-14b/r1 on runpod:1x_MI300X#1
CUDA_VISIBLE_DEVICES=0 vllm serve Qwen/Qwen2.5-14B --tensor-parallel-size 1 --max-model-len 8192 --max-num-seqs 1024 --gpu-memory-utilization 0.288 --port 8002 &

wait
