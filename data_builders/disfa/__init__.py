"""disfa: DISFA left-camera videos + AU intensities -> aligned labelled records (TFDS builder, manual download)."""
