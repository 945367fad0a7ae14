"""Model implementations behind :class:`convrec.recsys.base.Recommender`."""
