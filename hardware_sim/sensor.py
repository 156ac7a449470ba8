"""From scene radiance to an 8-bit colour photograph: light, optics, sensor, tone.

The frame is built in 12-bit linear raw levels (uint16, 0..4095): a smooth lit
backdrop, onto which the drawn layers are composited window by window.  The
lens blur acts on linear light; the tone curve maps raw to 8 bits; sensor
noise (shot + read, its raw standard deviation carried through the slope of the
tone curve) is added in the 8-bit domain; a residual colour cast makes BGR.
Every full-frame step is one OpenCV call on integers, so a 6000x4000 frame
stays well within its time budget.
"""

from __future__ import annotations

import cv2
import numpy as np

from .look import Look
from .raster import Box

RAW_MAX = 4095


def light(xs: np.ndarray, ys: np.ndarray, width: int, height: int, look: Look) -> np.ndarray:
    """Raw level of a white surface at pixel coordinates (vignetting, gradient);
    ``xs`` and ``ys`` broadcast against each other (a row and a column give a grid)."""
    u = ((np.asarray(xs, dtype=np.float32) + 0.5) / width - 0.5).astype(np.float32)
    v = ((np.asarray(ys, dtype=np.float32) + 0.5) / height - 0.5).astype(np.float32)
    fall = 1 - np.float32(2 * look.vignetting) * (u * u + v * v)
    slope = 1 + np.float32(2 * look.gradient[0]) * u + np.float32(2 * look.gradient[1]) * v
    return np.float32(look.exposure) * fall * slope


def light_in(box: Box, width: int, height: int, look: Look) -> np.ndarray:
    """:func:`light` on the pixels of ``box`` (h, w) float32."""
    xs = np.arange(box.x0, box.x0 + box.w, dtype=np.float32)[None, :]
    ys = np.arange(box.y0, box.y0 + box.h, dtype=np.float32)[:, None]
    return light(xs, ys, width, height, look)


def backdrop(width: int, height: int, look: Look, rng: np.random.Generator) -> np.ndarray:
    """The lit backdrop, raw levels (height, width) uint16, built coarse and upsampled."""
    step = 32
    gh, gw = height // step + 2, width // step + 2
    xs = (np.arange(gw, dtype=np.float32) * (width / (gw - 1)))[None, :]
    ys = (np.arange(gh, dtype=np.float32) * (height / (gh - 1)))[:, None]
    blotch = rng.standard_normal((gh // 4 + 2, gw // 4 + 2)).astype(np.float32)
    blotch = cv2.resize(blotch, (gw, gh), interpolation=cv2.INTER_CUBIC)
    level = light(xs, ys, width, height, look) * look.backdrop * (1 + look.texture * blotch)
    coarse = np.clip(level, 0, RAW_MAX).astype(np.uint16)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)


def composite(raw: np.ndarray, alpha: np.ndarray, box: Box, reflectance: float, look: Look) -> None:
    """Paint a layer of coverage ``alpha`` (box.h, box.w) and ``reflectance`` into ``raw``.

    Where little of the window is covered (a network covers a fifth of its
    box), only the covered pixels are touched.
    """
    if box.empty:
        return
    h, w = raw.shape
    if np.count_nonzero(alpha) > 0.4 * alpha.size:  # dense: whole window at once
        sl = box.slices
        cur = raw[sl].astype(np.float32)
        cur += alpha * (light_in(box, w, h, look) * np.float32(reflectance) - cur)
        raw[sl] = np.clip(cur + 0.5, 0, RAW_MAX).astype(np.uint16)
        return
    ys, xs = np.nonzero(alpha)
    if ys.size == 0:
        return
    a = alpha[ys, xs]
    ys += box.y0
    xs += box.x0
    cur = raw[ys, xs].astype(np.float32)
    target = light(xs.astype(np.float32), ys.astype(np.float32), w, h, look) * np.float32(reflectance)
    cur += a * (target - cur)
    raw[ys, xs] = np.clip(cur + 0.5, 0, RAW_MAX).astype(np.uint16)


def pillbox(radius: float) -> np.ndarray:
    """Normalised disc kernel of ``radius`` pixels (area-weighted edge)."""
    n = int(np.ceil(radius)) + 1
    ys, xs = np.mgrid[-n:n + 1, -n:n + 1].astype(float)
    k = np.clip(radius + 0.5 - np.hypot(xs, ys), 0, 1)
    return (k / k.sum()).astype(np.float32)


def motion_kernel(dx: float, dy: float) -> np.ndarray:
    """Normalised line kernel of a centred motion (dx, dy) pixels."""
    n = int(np.ceil(max(abs(dx), abs(dy)) / 2)) + 1
    k = np.zeros((2 * n + 1, 2 * n + 1), np.float32)
    t = np.linspace(-0.5, 0.5, 64)
    px, py = n + t * dx, n + t * dy
    x0, y0 = np.floor(px).astype(int), np.floor(py).astype(int)
    fx, fy = px - x0, py - y0
    for ox, oy, wgt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                        (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):  # bilinear splat, 4 taps
        np.add.at(k, (y0 + oy, x0 + ox), wgt)
    return k / k.sum()


def blur(raw: np.ndarray, box: Box, look: Look) -> None:
    """Lens blur, defocus and motion in place, on ``box`` (content) only: the
    backdrop outside is smooth and blur would not change it."""
    if box.empty:
        return
    sl = box.slices
    sub = raw[sl]
    if look.defocus_px > 0:
        sub = cv2.filter2D(sub, -1, pillbox(look.defocus_px), borderType=cv2.BORDER_REFLECT)
    if abs(look.motion_px[0]) + abs(look.motion_px[1]) > 0:
        sub = cv2.filter2D(sub, -1, motion_kernel(*look.motion_px), borderType=cv2.BORDER_REFLECT)
    if look.blur_sigma_px > 0:
        sub = cv2.GaussianBlur(sub, (0, 0), look.blur_sigma_px, borderType=cv2.BORDER_REFLECT)
    raw[sl] = sub


def tone_curve(look: Look) -> np.ndarray:
    """Raw (0..4095) -> 8-bit float curve."""
    x = np.arange(RAW_MAX + 1) / RAW_MAX
    if look.tone == "srgb":
        y = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
    elif look.tone == "linear":
        y = x
    else:
        raise ValueError(f"tone must be 'srgb' or 'linear', not {look.tone!r}")
    return y * 255.0


def raw_noise(raw: np.ndarray, look: Look, seed: int) -> np.ndarray:
    """The raw frame as the sensor reads it: shot and read noise added, 12-bit uint16."""
    if look.read_noise_dn <= 0 and look.gain_dn_per_e <= 0:
        return raw.copy()
    cv2.setRNGSeed(int(seed) & 0x7FFFFFFF)
    unit = np.empty(raw.shape, np.float32)
    cv2.randn(unit, 0, 1)
    sigma = np.sqrt(np.float32(look.read_noise_dn ** 2) + np.float32(look.gain_dn_per_e) * raw.astype(np.float32))
    return np.clip(raw + unit * sigma + 0.5, 0, RAW_MAX).astype(np.uint16)


def develop(raw: np.ndarray, look: Look, seed: int) -> np.ndarray:
    """Tone-map, add sensor noise, sharpen and colour: raw uint16 -> (H, W, 3) uint8 BGR."""
    curve = tone_curve(look)
    grey = np.clip(curve + 0.5, 0, 255).astype(np.uint8)[raw]
    if look.read_noise_dn > 0 or look.gain_dn_per_e > 0:
        levels = np.arange(RAW_MAX + 1, dtype=float)
        sigma_raw = np.sqrt(look.read_noise_dn ** 2 + look.gain_dn_per_e * levels)
        slope = np.gradient(curve)
        # 8-bit sigma per 8-bit output level (mean over the raw levels mapping to it)
        out_level = np.clip(curve + 0.5, 0, 255).astype(int)
        count = np.bincount(out_level, minlength=256)
        mean = np.bincount(out_level, sigma_raw * slope, minlength=256) / np.maximum(count, 1)
        s8 = np.interp(np.arange(256), np.flatnonzero(count), mean[count > 0])
        scale = 64.0
        lut = np.clip(np.round(s8 * scale), 0, 32767).astype(np.int16).reshape(1, 256)
        cv2.setRNGSeed(int(seed) & 0x7FFFFFFF)
        unit = np.empty(grey.shape, np.int16)
        cv2.randn(unit, 0, 256)
        unit_sd = 256.0
        if look.noise_grain_px > 0:  # demosaicing and noise reduction correlate neighbours
            g = look.noise_grain_px
            unit = cv2.GaussianBlur(unit, (0, 0), g)
            unit_sd = 256.0 / (2 * g * np.sqrt(np.pi))  # white noise through a 2-D Gaussian
        sig = cv2.LUT(grey, lut)
        noise = cv2.multiply(unit, sig, scale=1.0 / (unit_sd * scale), dtype=cv2.CV_16S)
        grey = cv2.add(grey, noise, dtype=cv2.CV_8U)
    if look.sharpen > 0 and look.sharpen_radius_px > 0:  # the body's unsharp mask
        soft = cv2.GaussianBlur(grey, (0, 0), look.sharpen_radius_px)
        grey = cv2.addWeighted(grey, 1 + look.sharpen, soft, -look.sharpen, 0)
    wb = np.asarray(look.white_balance, dtype=float)
    if np.allclose(wb, 1.0):
        return cv2.merge([grey, grey, grey])
    ramp = np.arange(256, dtype=float)
    chans = [grey if g == 1.0 else cv2.LUT(grey, np.clip(ramp * g + 0.5, 0, 255).astype(np.uint8))
             for g in wb]
    return cv2.merge(chans)
