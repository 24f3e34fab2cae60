"""A plain PyTorch CLP step, for benchmarks/train_step.py only (same model and losses as clp_jax)."""

import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):

  def __init__(self, cin, cout, stride):
    super().__init__()
    self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
    self.bn1 = nn.BatchNorm2d(cout)
    self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
    self.bn2 = nn.BatchNorm2d(cout)
    self.down = None
    if stride != 1 or cin != cout:
      self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

  def forward(self, x):
    y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
    return F.relu(y + (x if self.down is None else self.down(x)))


class ResNet18(nn.Module):

  def __init__(self):
    super().__init__()
    self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                              nn.MaxPool2d(3, 2, 1))
    layers, cin = [], 64
    for stage, width in enumerate((64, 128, 256, 512)):
      for b in range(2):
        layers.append(BasicBlock(cin, width, 2 if stage > 0 and b == 0 else 1))
        cin = width
    self.layers = nn.Sequential(*layers)

  def forward(self, x):
    return self.layers(self.stem(x)).mean(dim=(2, 3))


def mlp(cin, hidden, cout):
  return nn.Sequential(nn.Linear(cin, hidden), nn.ReLU(), nn.Linear(hidden, cout))


class Decoder(nn.Module):

  def __init__(self, cin, size=32, width=128):
    super().__init__()
    self.width, self.fc = width, nn.Linear(cin, 16 * width)
    convs, res, w = [], 4, width
    while res < size:
      convs.append(nn.Conv2d(w, max(32, w // 2), 3, 1, 1))
      w, res = max(32, w // 2), res * 2
    self.convs, self.out = nn.ModuleList(convs), nn.Conv2d(w, 3, 3, 1, 1)

  def forward(self, code):
    x = self.fc(code).view(-1, self.width, 4, 4)
    for conv in self.convs:
      x = F.relu(conv(F.interpolate(x, scale_factor=2, mode="nearest")))
    return torch.sigmoid(self.out(x))


class CLPModel(nn.Module):

  def __init__(self, au_dim=128, person_dim=64, proj_dim=128, hidden=512):
    super().__init__()
    self.encoder = ResNet18()
    self.au_head, self.person_head = mlp(512, hidden, au_dim), mlp(512, hidden, person_dim)
    self.projector = mlp(au_dim, hidden, proj_dim)
    self.decoder = Decoder(au_dim + person_dim)

  def forward(self, x):
    f = self.encoder(x)
    au = self.au_head(f)
    return au, self.person_head(f), self.projector(au)


def temporal_margin(z, t, pos_window=2.0, margin=0.1, max_margin=0.5):
  d = ((z[:, :, None] - z[:, None]) ** 2).sum(-1)
  gap = (t[:, :, None] - t[:, None]).abs().float()
  pos = (gap > 0) & (gap <= pos_window)
  further = gap[:, :, None, :] - gap[:, :, :, None]
  valid = pos[..., None] & (further > 0)
  m = torch.clamp(margin * further / pos_window, max=max_margin)
  hinge = F.relu(d[..., None] - d[:, :, None, :] + m)
  return (hinge * valid).sum() / valid.sum().clamp(min=1)


def clip_infonce(z, t, temperature=0.1, pos_window=2.0):
  logits = torch.einsum("bid,bjd->bij", z, z) / temperature
  gap = (t[:, :, None] - t[:, None]).abs().float()
  pos = (gap > 0) & (gap <= pos_window)
  eye = torch.eye(z.shape[1], dtype=torch.bool)[None]
  neg_inf = torch.finfo(logits.dtype).min
  log_pos = torch.logsumexp(logits.masked_fill(~pos, neg_inf), -1)
  log_all = torch.logsumexp(logits.masked_fill(eye, neg_inf), -1)
  return (log_all - log_pos).mean()


MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255


def train_step(model, opt, clip, t, size, cir_frames=2):
  """clip [B, K, 3, H, W] uint8, t [B, K] frame indices."""
  b, k = clip.shape[:2]
  frames = F.interpolate(clip.flatten(0, 1).float(), size=(size, size), mode="bilinear",
                         antialias=True)
  x = (frames - MEAN) / STD
  au, person, proj = model(x)
  z_au = F.normalize(au, dim=-1).view(b, k, -1)
  z_proj = F.normalize(proj, dim=-1).view(b, k, -1)
  loss = temporal_margin(z_au, t) + clip_infonce(z_proj, t)
  sel = torch.linspace(0, k - 1, cir_frames).long()
  au_a = au.view(b, k, -1)[:, sel].flatten(0, 1)
  person_sel = person.view(b, k, -1)[:, sel]
  person_a, person_b = person_sel.flatten(0, 1), person_sel.roll(1, 0).flatten(0, 1)
  target = F.interpolate(frames.view(b, k, 3, size, size)[:, sel].flatten(0, 1) / 255, size=(32, 32),
                         mode="bilinear")
  loss = loss + (model.decoder(torch.cat([au_a, person_a], -1)) - target).abs().mean()
  cross = model.decoder(torch.cat([au_a, person_b], -1))
  cross = (F.interpolate(cross, size=(size, size), mode="bilinear") * 255 - MEAN) / STD
  au_c, person_c, _ = model(cross)
  loss = loss + ((F.normalize(au_c, dim=-1) - F.normalize(au_a, dim=-1).detach()) ** 2).sum(-1).mean()
  loss = loss + 0.5 * ((F.normalize(person_c, dim=-1) - F.normalize(person_b, dim=-1).detach()) ** 2
                       ).sum(-1).mean()
  opt.zero_grad(set_to_none=True)
  loss.backward()
  torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
  opt.step()
  return float(loss)
