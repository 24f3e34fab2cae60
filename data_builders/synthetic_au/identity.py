"""Identities: who a synthetic person is, independent of what their face is doing.

Identities differ far more than expressions do (face shape, skin tone, feature geometry, hair,
accessories, background), and each has a *resting face* that imitates AUs without any muscle
moving: brows that sit high or tilt up at the inner ends (like AU1/2), mouth corners that turn
down (like AU15), narrow eyes (like AU7), thin lips (like AU23), deep folds (like AU10/12).
FACS codes change from a person's neutral face, so the labels never include the resting face:
an encoder that reads "who" instead of "what changed" gets these wrong.
"""

import dataclasses

import numpy as np

# BGR skin tones from very light to very dark; identities interpolate between neighbours.
_SKIN_TONES = np.array([
    [196, 219, 245], [170, 200, 236], [140, 180, 224], [110, 160, 205],
    [90, 130, 180], [70, 105, 150], [55, 80, 115], [40, 58, 85]], np.float32)
_HAIR_COLOURS = np.array([
    [20, 20, 25], [30, 40, 60], [40, 70, 110], [70, 120, 170], [150, 170, 190],
    [200, 200, 205], [30, 50, 140]], np.float32)
_IRIS_COLOURS = np.array([[40, 50, 70], [60, 90, 110], [120, 100, 60], [100, 120, 80]], np.float32)
HAIR_STYLES = ("bald", "short", "fringe", "long", "bun")


@dataclasses.dataclass(frozen=True)
class Identity:
  """Static appearance of one subject. Lengths are in face units (face half-width ~0.85)."""
  subject_id: int
  # face shape
  face_half_width: float
  face_half_height: float
  jaw_width: float          # 0..1, 1 = square jaw
  skin: tuple               # BGR
  # hair and accessories
  hair_colour: tuple
  hair_style: str
  hairline: float           # y of the hairline (negative = up)
  glasses: bool
  beard: float              # 0 = none, else darkness 0..1
  moustache: float
  # eyes
  eye_spacing: float
  eye_half_width: float
  eye_open: float           # resting aperture; < 1 looks like AU7
  iris: tuple
  # brows
  brow_height: float        # resting offset, negative = high brows (like AU1+2)
  brow_inner_tilt: float    # resting inner-end raise (like AU1)
  brow_thickness: float
  brow_arch: float
  # nose and mouth
  nose_length: float
  nose_width: float
  mouth_y: float
  mouth_half_width: float
  lip_thickness: float      # < 1 looks like AU23/24
  corner_rest: float        # resting corner drop, positive = down-turned (like AU15)
  lip_colour: tuple
  # age-like folds at rest
  nasolabial_rest: float
  forehead_rest: float
  glabella_rest: float
  # how often this person shows each expression (expressiveness multiplies the event rate)
  expressiveness: float
  # background, per subject (as in lab recordings): base colour and rectangles
  background: tuple
  background_shapes: tuple  # ((x0, y0, x1, y1, (b, g, r)), ...) in [0, 1] image coordinates


def _mix(palette: np.ndarray, rng: np.random.Generator) -> tuple:
  i = rng.integers(0, len(palette) - 1)
  t = rng.random()
  return tuple(float(v) for v in (1 - t) * palette[i] + t * palette[i + 1])


def sample_identity(subject_id: int, seed: int) -> Identity:
  """Draws subject `subject_id` of the corpus made with `seed`; the same inputs give the same face."""
  rng = np.random.default_rng(np.random.SeedSequence([seed, 1, subject_id]))
  u = rng.uniform
  skin = _mix(_SKIN_TONES, rng)
  lip = tuple(float(c) for c in np.array(skin) * np.array([0.72, 0.62, 0.95]) + np.array([10, 5, 25]))
  shapes = []
  for _ in range(rng.integers(2, 6)):
    x0, y0 = u(-0.1, 0.9, 2)
    w, h = u(0.1, 0.6, 2)
    shapes.append((float(x0), float(y0), float(x0 + w), float(y0 + h),
                   tuple(float(c) for c in u(20, 235, 3))))
  style = HAIR_STYLES[rng.choice(len(HAIR_STYLES), p=[0.1, 0.35, 0.2, 0.25, 0.1])]
  male_like = rng.random() < 0.5
  return Identity(
      subject_id=subject_id,
      face_half_width=u(0.74, 0.92),
      face_half_height=u(1.02, 1.28),
      jaw_width=u(0.45, 0.95),
      skin=skin,
      hair_colour=_mix(_HAIR_COLOURS, rng),
      hair_style=style,
      hairline=u(-0.85, -0.6),
      glasses=bool(rng.random() < 0.2),
      beard=float(u(0.4, 0.9)) if male_like and rng.random() < 0.3 else 0.0,
      moustache=float(u(0.4, 0.9)) if male_like and rng.random() < 0.3 else 0.0,
      eye_spacing=u(0.3, 0.4),
      eye_half_width=u(0.12, 0.17),
      eye_open=u(0.55, 1.2),
      iris=_mix(_IRIS_COLOURS, rng),
      brow_height=u(-0.07, 0.06),
      brow_inner_tilt=u(-0.03, 0.06),
      brow_thickness=u(0.025, 0.06),
      brow_arch=u(0.0, 0.06),
      nose_length=u(0.2, 0.32),
      nose_width=u(0.07, 0.12),
      mouth_y=u(0.46, 0.56),
      mouth_half_width=u(0.2, 0.29),
      lip_thickness=u(0.55, 1.35),
      corner_rest=u(-0.02, 0.05),
      lip_colour=lip,
      nasolabial_rest=u(0.0, 0.45),
      forehead_rest=u(0.0, 0.4),
      glabella_rest=u(0.0, 0.35),
      expressiveness=u(0.6, 1.5),
      background=tuple(float(c) for c in u(30, 225, 3)),
      background_shapes=tuple(shapes),
  )
