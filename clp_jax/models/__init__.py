"""Encoders and the CLP heads."""
