"""Federated machine learning: vertical LR, SecureBoost, evaluation, model files."""
