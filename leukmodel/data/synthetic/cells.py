"""Drawing one Giemsa-like image: a segmented white cell on black (C-NMC style) or a smear field.

Colour follows Beer-Lambert: each stained structure has an optical density (OD, per RGB channel), densities of
overlapping structures add, and the transmitted colour is ``light * exp(-OD)``. Lengths are stated for a 450 px
image and scale with the image size. Only the morphology position ``t`` (0 = blast, 1 = mature) carries the
class; everything else (position, stain, shape irregularity, red cells, style) is drawn from the image's own
random generator.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

import cv2
import numpy as np

Style = Literal["segmented", "smear"]

REFERENCE_SIZE = 450.0
SMEAR_CELL_SCALE = 0.55
"""A white cell in a smear field is drawn at this fraction of its segmented (zoomed, C-NMC-like) size."""
RED_CELL_RADIUS = 0.07
"""Red-cell radius as a fraction of the image size (smear style)."""
_UNIT_SD = float(np.sqrt(12.0))  # scales uniform noise on [-0.5, 0.5) to unit standard deviation


@dataclass(frozen=True)
class Stain:
    """Illumination (RGB, 0-255) and optical densities (RGB) of the stained structures."""

    light: np.ndarray
    nucleus: np.ndarray
    cytoplasm: np.ndarray
    red_cell: np.ndarray


GIEMSA = Stain(
    light=np.array([242.0, 228.0, 232.0], np.float32),  # pale pinkish background of a smear
    nucleus=np.array([0.95, 1.55, 0.50], np.float32),  # purple
    cytoplasm=np.array([0.40, 0.36, 0.12], np.float32),  # pale blue-lilac
    red_cell=np.array([0.05, 0.40, 0.33], np.float32),  # pink
)


def jitter_stain(stain: Stain, rng: np.random.Generator, spread: float) -> Stain:
    """A stain batch: each dye's strength and hue and the lamp's brightness vary by ``spread`` (log scale)."""

    def dye(od: np.ndarray) -> np.ndarray:
        return (od * np.exp(rng.normal(0.0, 0.10 * spread) + rng.normal(0.0, 0.05 * spread, 3))).astype(np.float32)

    light = stain.light * np.exp(rng.normal(0.0, 0.03 * spread) + rng.normal(0.0, 0.015 * spread, 3))
    return Stain(
        np.minimum(light, 255.0).astype(np.float32), dye(stain.nucleus), dye(stain.cytoplasm), dye(stain.red_cell)
    )


@dataclass(frozen=True)
class Morphology:
    """What tells a blast from a mature cell. The planted image signal; nothing else depends on the class."""

    cell_radius: float  # fraction of the image size (segmented style)
    nc_ratio: float  # nucleus area / cell area
    chromatin_scale: float  # size of chromatin clumps (blur sigma, px at 450)
    chromatin_contrast: float  # relative OD swing of the chromatin texture
    chromatin_clumping: float  # gain of the tanh that turns the texture into clumps
    nucleus_density: float  # OD multiplier of the nucleus (dense dark chromatin > 1)
    nucleoli: float  # expected number of nucleoli


BLAST = Morphology(0.30, 0.80, 1.0, 0.10, 0.8, 0.85, 1.5)
MATURE = Morphology(0.26, 0.40, 4.0, 0.40, 2.5, 1.35, 0.0)
_LOWER = Morphology(0.18, 0.15, 0.5, 0.0, 0.5, 0.5, 0.0)
_UPPER = Morphology(0.34, 0.92, 8.0, 0.7, 4.0, 2.0, 3.0)


def morphology(t: float) -> Morphology:
    """Interpolate from :data:`BLAST` (``t = 0``) to :data:`MATURE` (``t = 1``); beyond, extrapolate to sane limits."""
    values = {}
    for f in fields(Morphology):
        a, b = getattr(BLAST, f.name), getattr(MATURE, f.name)
        values[f.name] = float(np.clip(a + (b - a) * t, getattr(_LOWER, f.name), getattr(_UPPER, f.name)))
    return Morphology(**values)


@dataclass(frozen=True)
class Outline:
    """A wobbly ellipse: centre and radius in px, aspect (>= 1), angle (rad), and ``wobble``: complex Fourier
    coefficients of the outline's radius (relative amplitude and phase) for harmonics 2, 3, ..."""

    cx: float
    cy: float
    radius: float
    aspect: float = 1.0
    angle: float = 0.0
    wobble: np.ndarray | None = None

    def field(self, ys: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Over the grid ``ys`` (column) x ``xs`` (row): radial position (1 on the outline) and coverage (0..1)."""
        x, y = xs - np.float32(self.cx), ys - np.float32(self.cy)
        c, s, k = (np.float32(v) for v in (np.cos(self.angle), np.sin(self.angle), np.sqrt(self.aspect)))
        u, v = (x * c + y * s) / k, (y * c - x * s) * k
        r = np.maximum(np.hypot(u, v), np.float32(1e-6))
        edge = np.full_like(r, self.radius)
        if self.wobble is not None:
            # cos(k theta + phase) from powers of the unit complex number e^(i theta): no trigonometry per pixel
            unit = (u + 1j * v) / r
            power = unit * unit
            for coefficient in self.wobble:
                edge += (power * np.complex64(self.radius * coefficient)).real
                power *= unit
        return r / edge, np.clip(edge - r + np.float32(0.5), 0.0, 1.0)

    def reach(self) -> float:
        """Half the side of a square around the centre that holds the whole shape."""
        wobble = 0.0 if self.wobble is None else float(np.abs(self.wobble).sum())
        return self.radius * np.sqrt(self.aspect) * (1.0 + wobble) + 2.0


def _random_outline(
    rng: np.random.Generator, cx: float, cy: float, radius: float, irregularity: float, elongation: float
) -> Outline:
    wobble = rng.normal(0.0, irregularity, 4) * np.exp(1j * rng.uniform(0.0, 2 * np.pi, 4))
    aspect = 1.0 + abs(rng.normal(0.0, elongation))
    return Outline(cx, cy, radius, aspect, rng.uniform(0.0, np.pi), wobble)


def _box(size: int, cx: float, cy: float, reach: float) -> tuple[slice, slice] | None:
    rows = slice(max(0, int(cy - reach)), min(size, int(np.ceil(cy + reach)) + 1))
    cols = slice(max(0, int(cx - reach)), min(size, int(np.ceil(cx + reach)) + 1))
    return (rows, cols) if rows.start < rows.stop and cols.start < cols.stop else None


def _grid(box: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = box
    return (
        np.arange(rows.start, rows.stop, dtype=np.float32)[:, None],
        np.arange(cols.start, cols.stop, dtype=np.float32)[None, :],
    )


def _texture(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """White noise blurred to clumps of about ``sigma`` px, scaled to unit standard deviation."""
    noise = rng.random(shape, dtype=np.float32)
    if sigma > 0.3:
        noise = cv2.GaussianBlur(noise, (0, 0), sigma)
    return (noise - noise.mean()) / max(float(noise.std()), 1e-6)


def _white_cell(
    od: np.ndarray,
    rng: np.random.Generator,
    cx: float,
    cy: float,
    radius: float,
    m: Morphology,
    stain: Stain,
    noise: float,
) -> np.ndarray:
    """Draw one white cell over ``od`` (it hides what lies under it); returns its full-image coverage.

    The cell's outline follows the nucleus's (same elongation, half its wobble), so even a blast keeps a rim of
    cytoplasm all round.
    """
    size = od.shape[0]
    scale = size / REFERENCE_SIZE
    nc = float(np.clip(m.nc_ratio + rng.normal(0.0, 0.04 * noise), _LOWER.nc_ratio, _UPPER.nc_ratio))
    nucleus_radius = radius * np.sqrt(nc)
    shift = (radius - nucleus_radius) * rng.uniform(0.0, 0.6)
    direction = rng.uniform(0.0, 2 * np.pi)
    nx, ny = cx + shift * np.cos(direction), cy + shift * np.sin(direction)
    nucleus = _random_outline(rng, nx, ny, nucleus_radius, 0.03 * noise, 0.08 * noise)
    own = _random_outline(rng, cx, cy, radius, 0.01 * noise, 0.0)
    cell = Outline(cx, cy, radius, nucleus.aspect, nucleus.angle, own.wobble + 0.5 * nucleus.wobble)
    coverage = np.zeros(od.shape[:2], np.float32)
    box = _box(size, cx, cy, cell.reach())
    if box is None:
        return coverage
    ys, xs = _grid(box)
    _, cell_cover = cell.field(ys, xs)
    _, nucleus_cover = nucleus.field(ys, xs)

    chromatin = np.tanh(m.chromatin_clumping * _texture(rng, ys.shape[:1] + xs.shape[1:], m.chromatin_scale * scale))
    density = m.nucleus_density * (1.0 + m.chromatin_contrast * chromatin / np.tanh(m.chromatin_clumping))
    for _ in range(min(3, rng.poisson(m.nucleoli))):
        at, angle = nucleus_radius * rng.uniform(0.0, 0.5), rng.uniform(0.0, 2 * np.pi)
        spot = Outline(
            nx + at * np.cos(angle), ny + at * np.sin(angle), nucleus_radius * rng.uniform(0.10, 0.16), 1.2, angle
        )
        density *= 1.0 - 0.55 * spot.field(ys, xs)[1]
    grain = 1.0 + 0.08 * _texture(rng, density.shape, 2.0 * scale)

    cell_od = cell_cover[..., None] * (
        (1.0 - nucleus_cover)[..., None] * grain[..., None] * stain.cytoplasm
        + (nucleus_cover * density)[..., None] * stain.nucleus
    )
    od[box] = od[box] * (1.0 - cell_cover[..., None]) + cell_od
    coverage[box] = cell_cover
    return coverage


def _red_cells(
    od: np.ndarray, rng: np.random.Generator, stain: Stain, noise: float, keep_clear: list[tuple[float, float, float]]
) -> None:
    """Add pink discs with pale centres (overlaps add up darker), none centred inside the ``keep_clear`` discs."""
    size = od.shape[0]
    radius = RED_CELL_RADIUS * size
    count = int(rng.uniform(0.35, 0.55) * size * size / (np.pi * radius * radius))
    centres = rng.uniform(-radius, size + radius, (count, 2))
    for cx, cy, r in keep_clear:
        centres = centres[np.hypot(centres[:, 0] - cx, centres[:, 1] - cy) > r + 0.3 * radius]
    for cx, cy in centres:
        disc = Outline(
            cx,
            cy,
            radius * np.exp(rng.normal(0.0, 0.05 + 0.03 * noise)),
            1.0 + abs(rng.normal(0, 0.05)),
            rng.uniform(0, np.pi),
        )
        box = _box(size, cx, cy, disc.reach())
        if box is None:
            continue
        rho, cover = disc.field(*_grid(box))
        pallor = rng.uniform(0.35, 0.6) * (1.0 - np.clip((rho - 0.15) / 0.65, 0.0, 1.0))
        od[box] += (cover * (1.0 - pallor))[..., None] * stain.red_cell


def draw_image(
    rng: np.random.Generator, *, size: int, t: float, style: Style, noise: float, stain: Stain
) -> np.ndarray:
    """One ``(size, size, 3)`` uint8 RGB image of a cell with morphology position ``t`` (0 blast, 1 mature).

    ``noise`` scales the per-image variation (size, shape irregularity, stain, illumination, pixel noise, blur);
    ``stain`` is the patient's stain batch, jittered here per image.
    """
    m = morphology(t)
    stain = jitter_stain(stain, rng, 0.5 * noise)
    od = np.zeros((size, size, 3), np.float32)
    if style == "segmented":
        radius = m.cell_radius * size * np.exp(rng.normal(0.0, 0.07 * noise))
        cx, cy = np.clip(size / 2 + rng.normal(0.0, 0.04 * size, 2), radius, size - radius)
        mask = _white_cell(od, rng, cx, cy, radius, m, stain, noise)
    else:
        cells: list[tuple[float, float, float]] = []
        for _ in range(1 + int(rng.random() < 0.25)):
            radius = SMEAR_CELL_SCALE * m.cell_radius * size * np.exp(rng.normal(0.0, 0.07 * noise))
            for _ in range(20):  # a second cell is placed apart from the first when there is room
                cx, cy = rng.uniform(radius, size - radius, 2)
                if all(np.hypot(cx - x, cy - y) > 1.1 * (radius + r) for x, y, r in cells):
                    break
            cells.append((cx, cy, radius))
        _red_cells(od, rng, stain, noise, cells)
        for cx, cy, radius in cells:
            _white_cell(od, rng, cx, cy, radius, m, stain, noise)
        ramp = np.linspace(-0.5, 0.5, size, dtype=np.float32)
        gx, gy = rng.normal(0.0, 0.04 * noise, 2)
        od -= np.log1p(gx * ramp[None, :] + gy * ramp[:, None])[..., None]  # uneven illumination
        mask = None
    image = stain.light * np.exp(-od)
    blur = (0.4 + rng.uniform(0.0, 0.8) * noise) * size / REFERENCE_SIZE
    image = cv2.GaussianBlur(image, (0, 0), blur)
    image += np.float32(2.0 * noise * _UNIT_SD) * (rng.random(image.shape, dtype=np.float32) - np.float32(0.5))
    if mask is not None:
        image *= mask[..., None]
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)
