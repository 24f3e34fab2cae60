"""Draws one synthetic face: an identity, its AU intensities, and the camera's nuisances.

Features are placed on an ellipsoidal head in 3-D face units (x right, y down, z towards the
camera; face half-width ~0.85), rotated by the head pose and projected orthographically, so yaw
moves the nose and the features across the face as a real head turn does. Each AU moves only the
parts FACS describes (AU12 the mouth corners and nasolabial folds, AU1 the inner brows and the
central forehead, ...), which the tests check pixel by pixel.

The frame is drawn at twice the output size with anti-aliased primitives and downsampled, then
lit, blurred and noised. Output is RGB uint8.
"""

import math

import cv2
import numpy as np

from data_builders.synthetic_au import aus as au_lib
from data_builders.synthetic_au.dynamics import Nuisance
from data_builders.synthetic_au.identity import Identity

_SUPERSAMPLE = 2
_SHIFT = 4  # sub-pixel bits for cv2 drawing
_UNITS_ACROSS = 2.9  # face units spanned by the image width at scale 1


def _lerp(a, b, t: float) -> tuple:
  t = float(np.clip(t, 0.0, 1.0))
  return tuple((1 - t) * x + t * y for x, y in zip(a, b))


def _dark(skin, amount: float) -> tuple:
  """A crease colour: the skin darkened by `amount` in [0, 1]."""
  return _lerp(skin, tuple(0.35 * c for c in skin), amount)


class _Canvas:
  """Projects face-unit points and draws them; holds the pose of one frame."""

  def __init__(self, size: int, identity: Identity, yaw, pitch, roll, shift, scale):
    self.size = size
    self.a, self.b = identity.face_half_width, identity.face_half_height
    y, p, r = (math.radians(float(v)) for v in (yaw, pitch, roll))
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    self.rot = (rz @ rx @ ry).T.astype(np.float32)
    self.ppu = size * float(scale) / _UNITS_ACROSS
    self.centre = np.array([size * (0.5 + float(shift[0])), size * (0.52 + float(shift[1]))],
                           np.float32)

  def surface_z(self, xy: np.ndarray) -> np.ndarray:
    """Depth of points on the face's ellipsoid: [N, 2] -> [N]."""
    q = 1.0 - (xy[:, 0] / self.a) ** 2 - ((xy[:, 1] - 0.05) / self.b) ** 2
    return 0.8 * np.sqrt(np.clip(q, 0.04, None))

  def project(self, xy: np.ndarray, z=None) -> np.ndarray:
    """Face-unit points on the surface (or at depth z): [N, 2] -> pixels [N, 2]."""
    xy = np.asarray(xy, np.float32).reshape(-1, 2)
    z = self.surface_z(xy) if z is None else np.broadcast_to(np.asarray(z, np.float32), xy.shape[:1])
    p3 = np.concatenate([xy, z[:, None]], axis=1) @ self.rot
    return p3[:, :2] * self.ppu + self.centre

  @staticmethod
  def _fix(px: np.ndarray) -> np.ndarray:
    return np.round(px * (1 << _SHIFT)).astype(np.int32)

  def fill(self, img, px, colour):
    cv2.fillPoly(img, [self._fix(px)], colour, cv2.LINE_AA, _SHIFT)

  def line(self, img, px, colour, width_units: float, closed: bool = False):
    t = max(1, int(round(width_units * self.ppu)))
    cv2.polylines(img, [self._fix(px)], closed, colour, t, cv2.LINE_AA, _SHIFT)

  def ellipse(self, img, centre_xy, axes_units, colour, z=None, angle=0.0):
    c = self.project(np.asarray(centre_xy, np.float32)[None], z)[0]
    axes = (max(1, int(axes_units[0] * self.ppu)), max(1, int(axes_units[1] * self.ppu)))
    cv2.ellipse(img, (int(c[0]), int(c[1])), axes, angle, 0, 360, colour, -1, cv2.LINE_AA)


def _au(intensity: np.ndarray):
  """Normalised intensity getter: i(12) -> AU12 intensity / 5 in [0, 1]."""
  return lambda au: float(intensity[au_lib.AU_INDEX[au]]) / 5.0


def _background(identity: Identity, size: int) -> np.ndarray:
  img = np.empty((size, size, 3), np.uint8)
  img[:] = np.array(identity.background, np.uint8)
  for x0, y0, x1, y1, colour in identity.background_shapes:
    cv2.rectangle(img, (int(x0 * size), int(y0 * size)), (int(x1 * size), int(y1 * size)),
                  colour, -1)
  return cv2.GaussianBlur(img, (0, 0), size / 60)


def _outline(identity: Identity, i) -> np.ndarray:
  """Face contour in face units: [64, 2]; the jaw tapers and drops with AU26."""
  th = np.linspace(0, 2 * np.pi, 64, endpoint=False)
  x = identity.face_half_width * np.cos(th)
  y = 0.05 + identity.face_half_height * np.sin(th)
  below = np.clip((y - 0.3) / (identity.face_half_height - 0.25), 0, 1)
  x = x * (1 - (1 - identity.jaw_width) * 0.6 * below ** 1.5)
  y = y + 0.2 * i(26) * np.clip((y - identity.mouth_y + 0.1) / 0.5, 0, 1)
  return np.stack([x, y], 1).astype(np.float32)


def _draw_hair(cv: _Canvas, img, idt: Identity, back: bool):
  a, colour = idt.face_half_width, idt.hair_colour
  if back:
    if idt.hair_style == "long":
      th = np.linspace(np.pi * 1.0, np.pi * 2.0, 24)
      top = np.stack([1.25 * a * np.cos(th), -0.05 + 1.3 * idt.face_half_height * np.sin(th)], 1)
      sides = np.array([[1.3 * a, 1.3], [-1.3 * a, 1.3]])
      cv.fill(img, cv.project(np.concatenate([top, sides]), z=-0.3), colour)
    if idt.hair_style == "bun":
      cv.ellipse(img, (0.0, -idt.face_half_height - 0.15), (0.32, 0.25), colour, z=-0.2)
    return
  if idt.hair_style == "bald":
    return
  xs = np.linspace(-0.99 * a, 0.99 * a, 21)
  hairline = np.stack([xs, idt.hairline + 0.22 * (xs / a) ** 2], 1)
  if idt.hair_style == "fringe":
    hairline[:, 1] += 0.2 * np.cos(xs / a * np.pi / 2) ** 2
  th = np.linspace(0.0, -np.pi, 24)
  cap = np.stack([1.07 * a * np.cos(th), 0.05 + 1.07 * idt.face_half_height * np.sin(th)], 1)
  px = np.concatenate([cv.project(hairline), cv.project(cap, z=0.0)])
  cv.fill(img, px, colour)


def _draw_brows(cv: _Canvas, img, idt: Identity, i):
  k = np.array([1.0, 0.7, 0.35, 0.1, 0.0])    # weight of the inner end
  lat = np.array([0.0, 0.15, 0.45, 0.85, 1.0])  # weight of the outer end
  for s in (-1.0, 1.0):
    x = s * (idt.eye_spacing + np.linspace(-0.22, 0.22, 5))
    x = x - s * 0.09 * i(4) * k
    y = (-0.43 + idt.brow_height - idt.brow_arch * np.sin(np.linspace(0, np.pi, 5))
         - idt.brow_inner_tilt * k - 0.24 * i(1) * k - 0.24 * i(2) * lat
         + 0.12 * i(4) + 0.06 * i(4) * k)
    pts = np.stack([x, y], 1)
    colour = _lerp(idt.hair_colour, (15, 15, 15), 0.4)
    cv.line(img, cv.project(pts), colour, idt.brow_thickness)
    cv.line(img, cv.project(pts[:3]), colour, idt.brow_thickness * 1.3)


def _draw_forehead(cv: _Canvas, img, idt: Identity, i):
  central = 0.5 * idt.forehead_rest + 1.3 * i(1)
  lateral = 0.5 * idt.forehead_rest + 1.3 * i(2)
  for row, dy in enumerate((0.13, 0.2, 0.27)):
    y0 = -0.43 + idt.brow_height - dy
    if central > 0.02:
      xs = np.linspace(-0.2, 0.2, 7)
      cv.line(img, cv.project(np.stack([xs, y0 + 0.02 * (xs / 0.2) ** 2], 1)),
              _dark(idt.skin, min(1.0, central * (0.7 - 0.1 * row))), 0.018)
    if lateral > 0.02:
      for s in (-1.0, 1.0):
        xs = s * np.linspace(0.26, 0.56, 6)
        cv.line(img, cv.project(np.stack([xs, y0 + 0.01 + 0.03 * ((xs - s * 0.41) / 0.15) ** 2], 1)),
                _dark(idt.skin, min(1.0, lateral * (0.7 - 0.1 * row))), 0.018)
  glabella = 0.5 * idt.glabella_rest + 1.4 * i(4)
  if glabella > 0.02:
    for s in (-1.0, 1.0):
      cv.line(img, cv.project(np.array([[s * 0.05, -0.42], [s * 0.06, -0.3]])),
              _dark(idt.skin, min(1.0, glabella)), 0.024)


def _draw_eyes(cv: _Canvas, img, idt: Identity, i, gaze):
  opening = idt.eye_open * max(0.1, 1 + 0.25 * (i(1) + i(2)) - 0.75 * i(7) - 0.2 * i(4) - 0.2 * i(6))
  lower = np.clip(1 - 1.1 * i(7) - 0.8 * i(6), 0.1, 1.0)
  xs = np.linspace(-1.0, 1.0, 13)
  bump = np.sqrt(1 - xs ** 2)
  for s in (-1.0, 1.0):
    cx, cy, hw = s * idt.eye_spacing, -0.22, idt.eye_half_width
    ex = cx + xs * hw
    upper = np.stack([ex, cy - 0.075 * opening * bump - 0.008 * s * xs], 1)
    low = np.stack([ex, cy + 0.045 * lower * bump - 0.008 * s * xs], 1)
    eye_poly = np.concatenate([upper, low[::-1]])
    cv.fill(img, cv.project(eye_poly), (235, 238, 240))
    iris_c = (cx + gaze[0] * hw, cy + gaze[1] * 0.04)
    cv.ellipse(img, iris_c, (0.058, 0.058), idt.iris)
    cv.ellipse(img, iris_c, (0.024, 0.024), (10, 10, 10))
    # Skin lids drawn over the eyeball clip the iris to the aperture.
    above = np.stack([ex[::-1], np.full(13, cy - 0.15)], 1)
    below = np.stack([ex[::-1], np.full(13, cy + 0.11)], 1)
    cv.fill(img, cv.project(np.concatenate([upper, above])), idt.skin)
    cv.fill(img, cv.project(np.concatenate([low, below])), idt.skin)
    cv.line(img, cv.project(upper), (25, 20, 20), 0.018)
    # AU7 tightens and raises the lower lid, which bulges and darkens along its edge
    cv.line(img, cv.project(low), _dark(idt.skin, 0.5 + 0.5 * i(7)), 0.008 + 0.02 * i(7))
    crease = upper + np.array([0.0, -0.03])
    cv.line(img, cv.project(crease[2:-2]), _dark(idt.skin, 0.35), 0.008)


def _draw_cheeks(cv: _Canvas, img, idt: Identity, i):
  c6, c7 = i(6), i(7)
  for s in (-1.0, 1.0):
    cx = s * (idt.eye_spacing + 0.04)
    if c6 > 0.02:
      cv.ellipse(img, (cx, 0.0 - 0.1 * c6), (0.18, 0.1),
                 _lerp(idt.skin, tuple(min(255.0, 1.3 * c) for c in idt.skin), c6))
      xs = np.linspace(-0.12, 0.12, 7)
      furrow = np.stack([cx + xs, -0.22 + 0.1 - 0.05 * c6 + 0.02 * (xs / 0.12) ** 2], 1)
      cv.line(img, cv.project(furrow), _dark(idt.skin, min(1.0, 1.2 * c6)), 0.018)
    crow = min(1.0, 1.2 * c6 + 0.6 * c7)
    if crow > 0.02:
      ox = s * (idt.eye_spacing + idt.eye_half_width + 0.03)
      for dy in (-0.04, 0.0, 0.04):
        cv.line(img, cv.project(np.array([[ox, -0.22 + dy * 0.5], [ox + s * 0.09, -0.22 + dy * 1.6]])),
                _dark(idt.skin, crow), 0.016)


def _mouth_curves(idt: Identity, i):
  """The lip contours as functions of x: (xs, upper_outer, upper_inner, lower_inner, lower_outer)."""
  hw = idt.mouth_half_width * (1 + 0.4 * i(12) - 0.25 * i(23) - 0.12 * i(24) + 0.15 * i(14)
                               + 0.1 * i(15))
  my = idt.mouth_y
  corner = my + idt.corner_rest + 0.22 * i(15) - 0.2 * i(12) - 0.03 * i(14)
  gap = (0.14 * i(25) + 0.22 * i(26)) * (1 - i(24))
  thick = idt.lip_thickness * max(0.1, 1 - 0.9 * i(23) - 1.0 * i(24))
  centre_up = my - 0.35 * gap - 0.08 * i(10) - 0.04 * i(17)
  centre_lo = my + 0.65 * gap - 0.08 * i(17)
  xs = np.linspace(-hw, hw, 21)
  w = 1 - (xs / hw) ** 2  # 0 at the corners, 1 at the centre
  upper_inner = corner + (centre_up - corner) * w ** 0.8
  lower_inner = corner + (centre_lo - corner) * w ** 0.8
  lower_inner = np.maximum(lower_inner, upper_inner)
  cupid = 1 - 0.3 * np.exp(-(xs / (0.15 * hw)) ** 2)
  upper_outer = upper_inner - 0.045 * thick * np.sqrt(w) * cupid
  lower_outer = lower_inner + 0.06 * thick * np.sqrt(w) * (1 + 0.5 * i(17))
  return xs, upper_outer, upper_inner, lower_inner, lower_outer


def _draw_mouth(cv: _Canvas, img, idt: Identity, i):
  xs, uo, ui, li, lo = _mouth_curves(idt, i)
  pts = lambda y: cv.project(np.stack([xs, y], 1))
  fold = min(1.0, 0.5 * idt.nasolabial_rest + 0.9 * i(12) + 1.0 * i(10) + 0.3 * i(6))
  if fold > 0.02:
    nose_y = 0.05 + idt.nose_length * 0.5
    for s in (-1.0, 1.0):
      c = np.array([[s * (idt.nose_width + 0.05), nose_y - 0.03 - 0.02 * i(10)],
                    [s * (abs(xs[0]) + 0.05), ui[0] - 0.03],
                    [s * (abs(xs[0]) + 0.07), ui[0] + 0.12]])
      cv.line(img, cv.project(c), _dark(idt.skin, fold), 0.02)
  if (li - ui).max() > 0.004:
    cv.fill(img, np.concatenate([pts(ui), pts(li)[::-1]]), (40, 25, 60))
    teeth = np.minimum(ui + 0.035, li)
    cv.fill(img, np.concatenate([pts(ui), pts(teeth)[::-1]]), (225, 232, 236))
  cv.fill(img, np.concatenate([pts(uo), pts(ui)[::-1]]), idt.lip_colour)
  cv.fill(img, np.concatenate([pts(li), pts(lo)[::-1]]), idt.lip_colour)
  cv.line(img, pts(ui), _dark(idt.lip_colour, 0.6), 0.008)
  # AU23 narrows and thins the lips and rolls their red edge in (a darker rim); AU24 presses them
  # together and bunches the skin above and below
  if i(23) > 0.02:
    rim = _dark(idt.lip_colour, min(1.0, 1.2 * i(23)))
    cv.line(img, pts(uo), rim, 0.012 + 0.02 * i(23))
    cv.line(img, pts(lo), rim, 0.012 + 0.02 * i(23))
  press = min(1.0, 1.5 * i(24))
  if press > 0.02:
    cv.line(img, pts(uo - 0.03)[2:-2], _dark(idt.skin, press), 0.024)
    cv.line(img, pts(lo + 0.03)[2:-2], _dark(idt.skin, press), 0.024)
  for s, x in ((-1.0, xs[0]), (1.0, xs[-1])):
    if i(14) > 0.02:
      cv.line(img, cv.project(np.array([[x + s * 0.04, ui[0] - 0.07], [x + s * 0.06, ui[0] + 0.05]])),
              _dark(idt.skin, min(1.0, 1.5 * i(14))), 0.03)
    if i(15) > 0.02:
      cv.line(img, cv.project(np.array([[x, ui[0] + 0.02], [x + s * 0.01, ui[0] + 0.14]])),
              _dark(idt.skin, min(1.0, 1.2 * i(15))), 0.018)
  if i(17) > 0.02:
    chin_y = lo.max() + 0.14 + 0.2 * i(26)
    cv.ellipse(img, (0.0, chin_y), (0.18, 0.09), _dark(idt.skin, 0.8 * i(17)))
    for dx in (-0.06, 0.0, 0.06):
      cv.line(img, cv.project(np.array([[dx - 0.025, chin_y], [dx + 0.025, chin_y - 0.01]])),
              _dark(idt.skin, min(1.0, 1.2 * i(17))), 0.016)
  return xs, uo, lo


def _draw_nose(cv: _Canvas, img, idt: Identity, i):
  bottom = 0.05 + idt.nose_length * 0.5 - 0.04 * i(10)
  w = idt.nose_width * (1 + 0.3 * i(10))
  tip = np.array([[0.0, bottom - 0.04]])
  tip_z = cv.surface_z(tip) + 0.22
  for s in (-1.0, 1.0):
    ridge = np.array([[s * 0.05, -0.18], [s * 0.06, bottom - 0.1], [s * w, bottom - 0.02]])
    cv.line(img, cv.project(ridge, z=cv.surface_z(ridge) + np.array([0.05, 0.15, 0.12])),
            _dark(idt.skin, 0.25), 0.012)
    cv.ellipse(img, (s * w * 0.55, bottom), (0.03, 0.016), _dark(idt.skin, 0.75),
               z=float(tip_z[0]) - 0.05)
  cv.ellipse(img, tip[0], (0.05, 0.035), _lerp(idt.skin, (255, 255, 255), 0.08), z=float(tip_z[0]))


def _draw_accessories(cv: _Canvas, img, idt: Identity, i, outline, mouth):
  xs, uo, lo = mouth
  hair = idt.hair_colour
  if idt.beard > 0:
    jaw = outline[(outline[:, 1] > idt.mouth_y - 0.05)]
    jaw = jaw[np.argsort(np.arctan2(jaw[:, 1] - 0.05, jaw[:, 0]))]
    inner = np.stack([xs * 1.25, lo + 0.05], 1)[::-1]
    cv.fill(img, cv.project(np.concatenate([jaw, inner])), _lerp(idt.skin, hair, idt.beard))
  if idt.moustache > 0:
    top = np.stack([xs * 1.1, uo - 0.015], 1)
    above = np.stack([xs[::-1] * 1.0, np.full_like(xs, uo.min() - 0.07)], 1)
    cv.fill(img, cv.project(np.concatenate([top, above])), _lerp(idt.skin, hair, idt.moustache))
  if idt.glasses:
    for s in (-1.0, 1.0):
      th = np.linspace(0, 2 * np.pi, 24, endpoint=False)
      ring = np.stack([s * idt.eye_spacing + 0.18 * np.cos(th), -0.22 + 0.13 * np.sin(th)], 1)
      cv.line(img, cv.project(ring, z=0.85), (30, 30, 30), 0.02, closed=True)
    cv.line(img, cv.project(np.array([[-idt.eye_spacing + 0.18, -0.25], [idt.eye_spacing - 0.18, -0.25]]),
                            z=0.85), (30, 30, 30), 0.02)


def render_face(identity: Identity, au_intensity: np.ndarray, nuisance: Nuisance, t: int,
                size: int, rng: np.random.Generator, background: np.ndarray = None):
  """Renders frame t of a video.

  Args:
    identity: who is filmed.
    au_intensity: [NUM_AUS] float in [0, 5], in the order of `aus.AUS`.
    nuisance: the video's pose/lighting/camera timelines; frame t is used.
    size: output side in pixels.
    rng: draws the sensor noise.
    background: optional [2*size, 2*size, 3] uint8 from `background_for`, to reuse across frames.
  Returns:
    (image [size, size, 3] uint8 RGB, landmarks {name: [N, 2] float32 pixels at `size`}).
  """
  big = size * _SUPERSAMPLE
  img = (background if background is not None else background_for(identity, size)).copy()
  i = _au(au_intensity)
  cv = _Canvas(big, identity, nuisance.yaw[t], nuisance.pitch[t], nuisance.roll[t],
               nuisance.shift[t], nuisance.scale[t])
  _draw_hair(cv, img, identity, back=True)
  neck = np.array([[-0.42, 0.6], [0.42, 0.6], [0.55, 2.2], [-0.55, 2.2]])
  cv.fill(img, cv.project(neck, z=-0.2), _dark(identity.skin, 0.2))
  for s in (-1.0, 1.0):
    cv.ellipse(img, (s * identity.face_half_width * 0.97, -0.1), (0.09, 0.19), _dark(identity.skin, 0.1),
               z=0.0)
  outline = _outline(identity, i)
  cv.fill(img, cv.project(outline, z=0.0), identity.skin)
  _draw_forehead(cv, img, identity, i)
  _draw_hair(cv, img, identity, back=False)
  _draw_cheeks(cv, img, identity, i)
  _draw_eyes(cv, img, identity, i, nuisance.gaze[t])
  _draw_brows(cv, img, identity, i)
  _draw_nose(cv, img, identity, i)
  mouth = _draw_mouth(cv, img, identity, i)
  _draw_accessories(cv, img, identity, i, outline, mouth)

  out = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
  # Directional light: a linear gain across the image, towards light_angle.
  g = np.linspace(-0.5, 0.5, size, dtype=np.float32)
  a = float(nuisance.light_angle[t])
  gain = 1.0 + float(nuisance.light_strength[t]) * (math.cos(a) * g[None, :] + math.sin(a) * g[:, None])
  out *= gain[..., None] * (float(nuisance.brightness[t]) * np.array(nuisance.tint, np.float32))
  out = (out - 128.0) * nuisance.contrast + 128.0
  if nuisance.blur_sigma > 0:
    out = cv2.GaussianBlur(out, (0, 0), nuisance.blur_sigma)
  if nuisance.noise_sigma > 0:
    out += rng.normal(0.0, nuisance.noise_sigma, out.shape).astype(np.float32)
  image = np.clip(out, 0, 255).astype(np.uint8)[..., ::-1]  # BGR drawing -> RGB

  xs, uo, ui, li, lo = _mouth_curves(identity, i)
  landmarks = {
      "mouth": cv.project(np.concatenate([np.stack([xs, uo], 1), np.stack([xs, lo], 1)])) / _SUPERSAMPLE,
      "eyes": cv.project(np.array([[-identity.eye_spacing, -0.22], [identity.eye_spacing, -0.22]])) / _SUPERSAMPLE,
      "nose_tip": cv.project(np.array([[0.0, 0.05 + identity.nose_length * 0.5 - 0.04]])) / _SUPERSAMPLE,
  }
  return np.ascontiguousarray(image), landmarks


def background_for(identity: Identity, size: int) -> np.ndarray:
  """The subject's background at drawing resolution: [2*size, 2*size, 3] uint8 (BGR)."""
  return _background(identity, size * _SUPERSAMPLE)
