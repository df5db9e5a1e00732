"""Correlation: service graph + changes + alert → ranked suspects with reasons."""
