#!/bin/bash

# Parameters
#SBATCH --account=proj
#SBATCH --array=0-62%63
#SBATCH --constraint=h100
#SBATCH --cpus-per-task=1
#SBATCH --dependency=aftercorr:201,aftercorr:202,afterok:7_2
#SBATCH --error=/results/default/.slurm/%A_%a_0_log.err
#SBATCH --job-name=ptb.default.score
#SBATCH --mem=4GB
#SBATCH --nodes=1
#SBATCH --open-mode=append
#SBATCH --output=/results/default/.slurm/%A_%a_0_log.out
#SBATCH --partition=gpu
#SBATCH --qos=normal
#SBATCH --signal=USR2@90
#SBATCH --time=15
#SBATCH --wckey=submitit

# setup
module load cuda/12.4

# command
export SUBMITIT_EXECUTOR=slurm
srun --unbuffered --output /results/default/.slurm/%A_%a_%t_log.out --error /results/default/.slurm/%A_%a_%t_log.err <python> -u -m ptb.launch.array_task /results/default/.slurm /results/default/.slurm/array_uid.pkl
