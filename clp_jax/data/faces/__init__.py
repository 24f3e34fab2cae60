"""Faces: detection, 5-point landmarks, the main face of a video, and alignment to one template.

  alignment  a similarity transform of rigid landmarks onto the canonical face (the synthetic
             corpus and every real corpus use it)
  detect     dlib's HOG detector and 5-point predictor (offline, weights from a pip package)
  track      the main face of a video, detected every few frames and followed in between
  stream     a video file -> aligned crops of its main face, one frame at a time
"""

from clp_jax.data.faces.alignment import align
from clp_jax.data.faces.alignment import FIVE_POINT_TEMPLATE
from clp_jax.data.faces.alignment import RIGID_TEMPLATE
from clp_jax.data.faces.alignment import similarity_transform
from clp_jax.data.faces.alignment import transform_points
