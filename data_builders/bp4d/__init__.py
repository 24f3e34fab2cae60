"""bp4d: BP4D-Spontaneous AU-coded frames -> aligned labelled records (TFDS builder, manual download)."""
