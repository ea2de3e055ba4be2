#!/bin/sh
# vLLM launch lines for the plan of scenario 'default-chat-fleet' (planner plans/launch.py).
# Run each block on the instance it names.
# Budgeted under the memory rules of vLLM 0.26.0 (planner/estimate/engine.py); another version budgets differently.
set -e

# replica chat/r1 on runpod:1x_MI300X#1
CUDA_VISIBLE_DEVICES=0 vllm serve meta-llama/Llama-3.1-8B --tensor-parallel-size 1 --max-model-len 4096 --max-num-seqs 1024 --gpu-memory-utilization 0.1592 --port 8000 &

# replica chat/r2 on runpod:1x_MI300X#2
CUDA_VISIBLE_DEVICES=0 vllm serve meta-llama/Llama-3.1-8B --tensor-parallel-size 1 --max-model-len 4096 --max-num-seqs 1024 --gpu-memory-utilization 0.1957 --port 8000 &

# replica glm-assistant/r1 on runpod:1x_RTX3090#1
# note: the plan assumes int8 weights: serve an INT8 checkpoint of this model (AWQ/GPTQ/W8A8), vLLM does not quantize to it at start-up
CUDA_VISIBLE_DEVICES=0 vllm serve THUDM/glm-4-9b-chat --tensor-parallel-size 1 --max-model-len 8192 --max-num-seqs 256 --gpu-memory-utilization 0.9 --port 8000 &

# replica glm-assistant/r2 on runpod:1x_RTX3090#2
# note: the plan assumes int8 weights: serve an INT8 checkpoint of this model (AWQ/GPTQ/W8A8), vLLM does not quantize to it at start-up
CUDA_VISIBLE_DEVICES=0 vllm serve THUDM/glm-4-9b-chat --tensor-parallel-size 1 --max-model-len 8192 --max-num-seqs 256 --gpu-memory-utilization 0.6972 --port 8000 &

# replica reasoning/r1 on runpod:1x_MI300X#1
CUDA_VISIBLE_DEVICES=0 vllm serve deepseek-ai/DeepSeek-R1-Distill-Qwen-32B --tensor-parallel-size 1 --max-model-len 16384 --max-num-seqs 1024 --gpu-memory-utilization 0.6732 --port 8001 &

# replica qwen-72b/r1 on runpod:1x_MI300X#2
CUDA_VISIBLE_DEVICES=0 vllm serve Qwen/Qwen2.5-72B --tensor-parallel-size 1 --max-model-len 8192 --max-num-seqs 1024 --gpu-memory-utilization 0.7008 --quantization fp8 --port 8001 &

# replica router/r1 on runpod:1x_RTX3090#2
CUDA_VISIBLE_DEVICES=0 vllm serve Qwen/Qwen3-0.6B --tensor-parallel-size 1 --max-model-len 2048 --max-num-seqs 256 --gpu-memory-utilization 0.191 --port 8001 &

# replica summarizer/r1 on runpod:1x_MI300X#1
CUDA_VISIBLE_DEVICES=0 vllm serve meta-llama/Llama-3.2-3B --tensor-parallel-size 1 --max-model-len 4096 --max-num-seqs 1024 --gpu-memory-utilization 0.065 --port 8002 &

wait
