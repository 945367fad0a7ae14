"""MNIST and CNNs: data batches, edge features, models, training, prediction, figures."""
