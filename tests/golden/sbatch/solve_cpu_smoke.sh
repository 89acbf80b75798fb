#!/bin/bash

# Parameters
#SBATCH --cpus-per-task=2
#SBATCH --error=/results/default/opus46__claude_code__qwen3_4b__gsm8k__s0/slurm/%j_0_log.err
#SBATCH --job-name=opus46__claude_code__qwen3_4b__gsm8k__s0.solve
#SBATCH --mem=4GB
#SBATCH --nodes=1
#SBATCH --open-mode=append
#SBATCH --output=/results/default/opus46__claude_code__qwen3_4b__gsm8k__s0/slurm/%j_0_log.out
#SBATCH --requeue
#SBATCH --signal=USR2@90
#SBATCH --time=17
#SBATCH --wckey=submitit

# command
export SUBMITIT_EXECUTOR=slurm
srun --unbuffered --output /results/default/opus46__claude_code__qwen3_4b__gsm8k__s0/slurm/%j_%t_log.out --error /results/default/opus46__claude_code__qwen3_4b__gsm8k__s0/slurm/%j_%t_log.err <python> -u -m submitit.core._submit /results/default/opus46__claude_code__qwen3_4b__gsm8k__s0/slurm
