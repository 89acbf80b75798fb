"""ptb: PostTrainBench-style experiments — can an AI agent post-train an LLM?"""

__version__ = "0.1.0"
