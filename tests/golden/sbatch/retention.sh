#!/bin/bash

# Parameters
#SBATCH --account=proj
#SBATCH --constraint=h100
#SBATCH --cpus-per-task=16
#SBATCH --dependency=afterok:102
#SBATCH --error=/results/default/opus46__claude_code__qwen3_4b__gsm8k__s0/slurm/%j_0_log.err
#SBATCH --gres=gpu:h100:1
#SBATCH --job-name=opus46__claude_code__qwen3_4b__gsm8k__s0.retention
#SBATCH --mem=128GB
#SBATCH --nodes=1
#SBATCH --open-mode=append
#SBATCH --output=/results/default/opus46__claude_code__qwen3_4b__gsm8k__s0/slurm/%j_0_log.out
#SBATCH --partition=gpu
#SBATCH --qos=normal
#SBATCH --requeue
#SBATCH --signal=USR2@90
#SBATCH --time=240
#SBATCH --wckey=submitit

# setup
module load cuda/12.4

# command
export SUBMITIT_EXECUTOR=slurm
srun --unbuffered --output /results/default/opus46__claude_code__qwen3_4b__gsm8k__s0/slurm/%j_%t_log.out --error /results/default/opus46__claude_code__qwen3_4b__gsm8k__s0/slurm/%j_%t_log.err <python> -u -m submitit.core._submit /results/default/opus46__claude_code__qwen3_4b__gsm8k__s0/slurm
