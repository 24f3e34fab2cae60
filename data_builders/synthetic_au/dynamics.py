"""How a synthetic video evolves over time: AU intensities, head pose and lighting.

AU intensities follow expression events with onset, apex and offset phases (raised-cosine ramps),
so intensities change smoothly from frame to frame, as FACS-coded video does. Pose and lighting
drift slowly and independently of the AUs: they are nuisances.
"""

import dataclasses

import numpy as np

from data_builders.synthetic_au import aus as au_lib


def _ramp(n: int) -> np.ndarray:
  """Raised-cosine ramp from 0 to 1 over n frames: [n] float32."""
  if n <= 0:
    return np.zeros((0,), np.float32)
  t = (np.arange(n, dtype=np.float32) + 1) / (n + 1)
  return (0.5 - 0.5 * np.cos(np.pi * t)).astype(np.float32)


def au_timeline(num_frames: int, expressiveness: float, rng: np.random.Generator) -> np.ndarray:
  """Intensities of every AU over a video: [num_frames, NUM_AUS] float32 in [0, 5]."""
  names = list(au_lib.EXPRESSIONS)
  rates = np.array([au_lib.EXPRESSIONS[n][0] for n in names])
  rates = rates / rates.sum()
  intensity = np.zeros((num_frames, au_lib.NUM_AUS), np.float32)
  # Events start as a Poisson process; about one every 25 frames for an average person.
  t = int(rng.integers(-20, 10))
  while t < num_frames:
    name = names[rng.choice(len(names), p=rates)]
    onset, apex, offset = rng.integers(3, 12), rng.integers(6, 36), rng.integers(4, 14)
    envelope = np.concatenate([_ramp(onset), np.ones(apex, np.float32), _ramp(offset)[::-1]])
    peak = rng.uniform(1.0, 5.0)
    for au, (p, weight) in au_lib.EXPRESSIONS[name][1].items():
      if rng.random() < p:
        apex_value = np.clip(peak * weight * rng.uniform(0.75, 1.2), 0.0, 5.0)
        lo, hi = max(t, 0), min(t + len(envelope), num_frames)
        if hi > lo:
          intensity[lo:hi, au_lib.AU_INDEX[au]] += apex_value * envelope[lo - t:hi - t]
    t += int(rng.exponential(25.0 / expressiveness)) + 3
  # Sub-threshold micro-movements: real faces are never perfectly still.
  jitter = _smooth_noise(num_frames, au_lib.NUM_AUS, 0.35, 6.0, rng)
  return np.clip(intensity + np.abs(jitter), 0.0, 5.0).astype(np.float32)


def _smooth_noise(num_frames: int, dims: int, scale: float, length: float,
                  rng: np.random.Generator) -> np.ndarray:
  """Gaussian-smoothed noise with std ~scale and correlation length ~length frames: [T, dims]."""
  pad = int(3 * length)
  white = rng.normal(size=(num_frames + 2 * pad, dims))
  k = np.exp(-0.5 * (np.arange(-pad, pad + 1) / length) ** 2)
  k /= np.sqrt((k ** 2).sum())
  out = np.stack([np.convolve(white[:, d], k, mode="valid") for d in range(dims)], axis=1)
  return (scale * out[:num_frames]).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Nuisance:
  """Per-frame nuisances of one video; arrays are [T] unless noted."""
  yaw: np.ndarray         # degrees
  pitch: np.ndarray
  roll: np.ndarray
  shift: np.ndarray       # [T, 2] fraction of the image size
  scale: np.ndarray       # face size multiplier
  light_angle: np.ndarray # radians, direction of the brighter side
  light_strength: np.ndarray
  brightness: np.ndarray
  tint: tuple             # BGR gain of the video's light colour
  contrast: float
  blur_sigma: float       # pixels at the output size
  noise_sigma: float      # grey levels
  jpeg_quality: int
  gaze: np.ndarray        # [T, 2] iris offset as a fraction of the eye size


def nuisance_timeline(num_frames: int, rng: np.random.Generator) -> Nuisance:
  """Draws slowly drifting pose, lighting and camera quality for one video."""
  pose = _smooth_noise(num_frames, 3, 1.0, 12.0, rng)
  base = rng.uniform([-15, -8, -6], [15, 8, 6])
  shift_drift = _smooth_noise(num_frames, 2, 0.02, 15.0, rng)
  shift_mean = rng.uniform(-0.05, 0.05, 2)
  scale_drift = _smooth_noise(num_frames, 1, 0.03, 20.0, rng)[:, 0]
  scale_mean = 1.0 + rng.uniform(-0.1, 0.1)
  light = _smooth_noise(num_frames, 3, 1.0, 25.0, rng)
  return Nuisance(
      yaw=(base[0] + 9.0 * pose[:, 0]).astype(np.float32),
      pitch=(base[1] + 5.0 * pose[:, 1]).astype(np.float32),
      roll=(base[2] + 4.0 * pose[:, 2]).astype(np.float32),
      shift=(shift_mean + shift_drift).astype(np.float32),
      scale=(scale_mean + scale_drift).astype(np.float32),
      light_angle=(rng.uniform(0, 2 * np.pi) + 0.4 * light[:, 0]).astype(np.float32),
      light_strength=np.clip(rng.uniform(0.0, 0.5) + 0.08 * light[:, 1], 0, 0.7).astype(np.float32),
      brightness=np.clip(rng.uniform(0.7, 1.2) + 0.05 * light[:, 2], 0.4, 1.5).astype(np.float32),
      tint=tuple(float(v) for v in rng.uniform(0.85, 1.15, 3)),
      contrast=float(rng.uniform(0.75, 1.15)),
      blur_sigma=float(rng.choice([0.0, rng.uniform(0.3, 1.3)], p=[0.4, 0.6])),
      noise_sigma=float(rng.uniform(0.0, 7.0)),
      jpeg_quality=int(rng.integers(55, 96)),
      gaze=np.clip(_smooth_noise(num_frames, 2, 0.25, 8.0, rng), -0.45, 0.45),
  )


def still_nuisance(num_frames: int = 1) -> Nuisance:
  """A frontal, evenly lit, noise-free camera: for tests that isolate one AU's effect."""
  z = np.zeros((num_frames,), np.float32)
  return Nuisance(yaw=z, pitch=z, roll=z, shift=np.zeros((num_frames, 2), np.float32),
                  scale=z + 1.0, light_angle=z, light_strength=z, brightness=z + 1.0,
                  tint=(1.0, 1.0, 1.0), contrast=1.0, blur_sigma=0.0, noise_sigma=0.0,
                  jpeg_quality=95, gaze=np.zeros((num_frames, 2), np.float32))
