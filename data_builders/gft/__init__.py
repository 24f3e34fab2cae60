"""gft: GFT (Sayette Group Formation Task) videos + AU codes -> aligned labelled records (TFDS builder, configurable layout)."""
