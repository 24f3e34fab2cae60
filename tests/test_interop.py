"""The torchvision mapping, checked against an independent NumPy forward pass in NCHW."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from clp_jax.export import interop
from clp_jax.models import resnet

EPS = 1e-5  # torchvision BatchNorm2d


def _conv(x, w, stride, pad):
  """NCHW conv, OIHW weights, zero padding, as torch.nn.Conv2d(bias=False)."""
  x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
  n, c, h, wd = x.shape
  o, _, kh, kw = w.shape
  oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
  cols = np.empty((n, c, kh, kw, oh, ow), x.dtype)
  for i in range(kh):
    for j in range(kw):
      cols[:, :, i, j] = x[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]
  return np.einsum("nckluv,ockl->nouv", cols, w)


def _bn(x, sd, key):
  g, b = sd[key + ".weight"], sd[key + ".bias"]
  m, v = sd[key + ".running_mean"], sd[key + ".running_var"]
  return (x - m[:, None, None]) / np.sqrt(v[:, None, None] + EPS) * g[:, None, None] + b[:, None, None]


def _maxpool(x):
  """3x3, stride 2, padding 1 (padded with -inf), as torch.nn.MaxPool2d(3, 2, 1)."""
  x = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
  h, w = (x.shape[2] - 3) // 2 + 1, (x.shape[3] - 3) // 2 + 1
  return np.max([x[:, :, i:i + 2 * h:2, j:j + 2 * w:2] for i in range(3) for j in range(3)], axis=0)


def numpy_resnet(sd, x_nchw, depth):
  relu = lambda z: np.maximum(z, 0)
  x = relu(_bn(_conv(x_nchw, sd["conv1.weight"], 2, 3), sd, "bn1"))
  x = _maxpool(x)
  kind, counts = resnet.STAGES[depth]
  for s, count in enumerate(counts):
    for b in range(count):
      p = f"layer{s + 1}.{b}"
      stride = 2 if s > 0 and b == 0 else 1
      if kind == "basic":
        y = relu(_bn(_conv(x, sd[p + ".conv1.weight"], stride, 1), sd, p + ".bn1"))
        y = _bn(_conv(y, sd[p + ".conv2.weight"], 1, 1), sd, p + ".bn2")
      else:
        y = relu(_bn(_conv(x, sd[p + ".conv1.weight"], 1, 0), sd, p + ".bn1"))
        y = relu(_bn(_conv(y, sd[p + ".conv2.weight"], stride, 1), sd, p + ".bn2"))
        y = _bn(_conv(y, sd[p + ".conv3.weight"], 1, 0), sd, p + ".bn3")
      if p + ".downsample.0.weight" in sd:
        x = _bn(_conv(x, sd[p + ".downsample.0.weight"], stride, 0), sd, p + ".downsample.1")
      x = relu(x + y)
  return x.mean(axis=(2, 3))


def _random_state_dict(depth, rng):
  model = resnet.ResNet(depth)
  # Only the structure is needed (every value is drawn below): shapes, not an init, which XLA:CPU
  # would compile (or, eagerly, compile op by op).
  shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
  variables = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes)
  sd = interop.to_torch_state_dict(variables)
  for k, v in sd.items():
    if k.endswith("num_batches_tracked"):
      continue
    if k.endswith("running_var"):
      sd[k] = rng.uniform(0.5, 1.5, v.shape).astype(np.float32)
    elif k.endswith(("running_mean", "bias")):
      sd[k] = rng.normal(0, 0.1, v.shape).astype(np.float32)
    elif v.ndim == 1:  # BatchNorm weight
      sd[k] = rng.uniform(0.5, 1.5, v.shape).astype(np.float32)
    else:  # conv: He init keeps activations O(1) through the depth
      fan_in = np.prod(v.shape[1:])
      sd[k] = (rng.normal(0, 1, v.shape) * np.sqrt(2 / fan_in)).astype(np.float32)
  sd["fc.weight"] = np.zeros((10, resnet.FEATURE_DIM[depth]), np.float32)  # skipped on load
  sd["fc.bias"] = np.zeros((10,), np.float32)
  return model, variables, sd


@pytest.mark.parametrize("depth,size", [(10, 36), (18, 40), (50, 33)])
def test_loaded_weights_match_numpy_forward(depth, size):
  rng = np.random.default_rng(depth)
  model, variables, sd = _random_state_dict(depth, rng)
  loaded = interop.from_torch_state_dict(sd, variables)
  x = rng.normal(size=(2, 3, size, size)).astype(np.float32)  # odd sizes exercise the padding
  ours = jax.jit(model.apply)(loaded, jnp.asarray(x.transpose(0, 2, 3, 1)))
  ref = numpy_resnet(sd, x.astype(np.float64), depth)
  np.testing.assert_allclose(np.asarray(ours), ref, rtol=2e-3, atol=2e-3 * np.abs(ref).max())


def test_safetensors_round_trip(tmp_path):
  rng = np.random.default_rng(0)
  _, variables, sd = _random_state_dict(18, rng)
  loaded = interop.from_torch_state_dict(sd, variables)
  path = str(tmp_path / "encoder.safetensors")
  interop.save_safetensors(path, loaded)
  again = interop.load_safetensors(path, variables)
  jax.tree.map(np.testing.assert_array_equal, again, loaded)
  from safetensors.numpy import load_file  # pylint: disable=g-import-not-at-top
  saved = load_file(path)
  assert "layer4.1.bn2.running_var" in saved and "layer2.0.downsample.0.weight" in saved
  assert not any(k.startswith("fc.") for k in saved)
  assert set(saved) == {k for k in sd if not k.startswith("fc.")}
  np.testing.assert_array_equal(saved["layer3.0.conv1.weight"], sd["layer3.0.conv1.weight"])


def test_wrong_architecture_is_a_clear_error():
  rng = np.random.default_rng(0)
  _, _, sd50 = _random_state_dict(50, rng)
  _, variables18, sd18 = _random_state_dict(18, rng)
  with pytest.raises(ValueError, match="another architecture|no counterpart"):
    interop.from_torch_state_dict(sd50, variables18)
  del sd18["layer3.1.conv2.weight"]
  with pytest.raises(ValueError, match="lacks 1 encoder tensors"):
    interop.from_torch_state_dict(sd18, variables18)


def _maxpool_grad(x, g):
  """NumPy gradient of `_maxpool`: each output's gradient goes to the first maximum of its window
  in row-major order (torch.nn.MaxPool2d's and XLA select-and-scatter's choice). NCHW."""
  xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
  dxp = np.zeros_like(xp)
  n, c, h, w = g.shape
  for a in range(n):
    for b in range(c):
      for u in range(h):
        for v in range(w):
          win = xp[a, b, 2 * u:2 * u + 3, 2 * v:2 * v + 3]
          i, j = np.unravel_index(np.argmax(win), win.shape)  # argmax returns the first maximum
          dxp[a, b, 2 * u + i, 2 * v + j] += g[a, b, u, v]
  return dxp[:, :, 1:-1, 1:-1]


@pytest.mark.parametrize("size", [(12, 12), (11, 8)])
def test_stem_max_pool_values_and_gradient(size):
  rng = np.random.default_rng(0)
  # Rounded values after a ReLU: many ties inside windows, as in a real stem.
  x = np.maximum(np.round(rng.normal(size=(2, 3) + size), 1), 0).astype(np.float32)
  y_ref = _maxpool(x)
  g = rng.normal(size=y_ref.shape).astype(np.float32)
  to_nhwc = lambda a: jnp.asarray(a.transpose(0, 2, 3, 1))
  y, vjp = jax.vjp(resnet.max_pool_3x3_s2, to_nhwc(x))
  np.testing.assert_array_equal(np.asarray(y).transpose(0, 3, 1, 2), y_ref)
  np.testing.assert_allclose(np.asarray(vjp(to_nhwc(g))[0]).transpose(0, 3, 1, 2),
                             _maxpool_grad(x, g), rtol=1e-6, atol=1e-6)
