"""Published active-learning baselines as alseg strategies, registered through the `alseg.strategies` entry points.

bald and mc_entropy (MC dropout), power (stochastic batches of any scored strategy), badge (gradient
embeddings + k-means++) and typiclust (typical points of uncovered clusters). Every module imports alseg
only through `alseg.api`; the math lives in `alseg_baselines.maths`.
"""

__version__ = "0.1.0"
