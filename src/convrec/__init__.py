"""convrec: convolutions you can see and a movie recommender you can use.

``import convrec`` is cheap on purpose: torch, matplotlib, pyspark and the web stack are
imported only inside the sub-packages and functions that need them.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
