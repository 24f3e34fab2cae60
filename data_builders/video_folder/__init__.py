"""video_folder: any folder of face videos -> aligned pretraining clips (TFDS builder)."""
