"""voxceleb2: VoxCeleb2 videos -> aligned pretraining clips (TFDS builder, manual download)."""
