#!/bin/sh
# vLLM launch lines for the plan of scenario 'ha-fleet' (planner plans/launch.py).
# Run each block on the instance it names.
# Budgeted under the memory rules of vLLM 0.26.0 (planner/estimate/engine.py); another version budgets differently.
set -e

# replica chat/r1 on runpod:1x_A100-80GB-SXM#1
CUDA_VISIBLE_DEVICES=0 vllm serve meta-llama/Llama-3.1-8B --tensor-parallel-size 1 --max-model-len 4096 --max-num-seqs 256 --gpu-memory-utilization 0.5128 --port 8000 &

# replica chat/r2 on runpod:1x_A100-80GB-SXM#2
CUDA_VISIBLE_DEVICES=0 vllm serve meta-llama/Llama-3.1-8B --tensor-parallel-size 1 --max-model-len 4096 --max-num-seqs 256 --gpu-memory-utilization 0.5128 --port 8000 &

# replica assistant/r1 on runpod:1x_A100-80GB-SXM#1
# note: the plan assumes int8 weights: serve an INT8 checkpoint of this model (AWQ/GPTQ/W8A8), vLLM does not quantize to it at start-up
CUDA_VISIBLE_DEVICES=0 vllm serve Qwen/Qwen2.5-7B --tensor-parallel-size 1 --max-model-len 8192 --max-num-seqs 256 --gpu-memory-utilization 0.2559 --port 8001 &

# replica assistant/r2 on runpod:1x_A100-80GB-SXM#2
# note: the plan assumes int8 weights: serve an INT8 checkpoint of this model (AWQ/GPTQ/W8A8), vLLM does not quantize to it at start-up
CUDA_VISIBLE_DEVICES=0 vllm serve Qwen/Qwen2.5-7B --tensor-parallel-size 1 --max-model-len 8192 --max-num-seqs 256 --gpu-memory-utilization 0.2559 --port 8001 &

# replica router/r1 on runpod:1x_A100-80GB-SXM#1
CUDA_VISIBLE_DEVICES=0 vllm serve Qwen/Qwen3-0.6B --tensor-parallel-size 1 --max-model-len 2048 --max-num-seqs 256 --gpu-memory-utilization 0.079 --port 8002 &

# replica router/r2 on runpod:1x_A100-80GB-SXM#2
CUDA_VISIBLE_DEVICES=0 vllm serve Qwen/Qwen3-0.6B --tensor-parallel-size 1 --max-model-len 2048 --max-num-seqs 256 --gpu-memory-utilization 0.079 --port 8002 &

wait
