"""How a simulated photograph looks: materials, light, optics and sensor."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass
class Look:
    """Appearance settings of the simulated camera.

    Reflectances are fractions of white; the exposure puts a white surface at
    the image centre at ``exposure`` of the 12-bit raw range (4095).

    Attributes
    ----------
    backdrop, network, frame, string, weight, board_white, board_black : float
        Reflectances of the light backdrop, the black printed network, the
        aluminium frame, the thread, the hanging weights and the checkerboard.
    exposure : float
        Raw level (DN of 4095) of reflectance 1 at the image centre.
    vignetting : float
        Relative light fall-off at the image corners (0 = none).
    gradient : (float, float)
        Relative change of the light across the frame along x and y.
    texture : float
        Relative standard deviation of the backdrop's slow blotches.
    blur_sigma_px : float
        Gaussian lens blur, pixels (at full resolution).
    defocus_px : float
        Radius of a pillbox defocus blur, pixels (0 = in focus).
    motion_px : (float, float)
        Motion during the exposure, pixels; the blur is centred on the
        truth (the frame's mid-exposure position).
    read_noise_dn, gain_dn_per_e : float
        Read noise (DN) and conversion gain: shot-noise variance = gain * signal.
    noise_grain_px : float
        Correlation length of the noise (a Gaussian of this sigma, variance kept):
        demosaicing and in-body noise reduction make a JPEG's noise grainy.
    focus_mm : float or None
        Depth of field: the distance (along the optical axis) the lens is
        focused at; ``None`` renders everything sharp.
    aperture_f, pixel_pitch_mm : float
        f-number and pixel pitch (at this resolution) for the depth of field.
    sharpen, sharpen_radius_px : float
        The body's unsharp mask on the JPEG: amount and Gaussian radius.
    tone : {"srgb", "linear"}
        Tone curve from raw to 8 bits.
    white_balance : (float, float, float)
        Residual BGR gains after the tone curve (a slightly warm cast).
    """

    backdrop: float = 0.80
    network: float = 0.055
    frame: float = 0.42
    string: float = 0.92
    weight: float = 0.28
    board_white: float = 0.86
    board_black: float = 0.05
    exposure: float = 3400.0
    vignetting: float = 0.22
    gradient: tuple = (0.10, -0.06)
    texture: float = 0.012
    blur_sigma_px: float = 0.8
    defocus_px: float = 0.0
    motion_px: tuple = (0.0, 0.0)
    read_noise_dn: float = 2.5
    gain_dn_per_e: float = 0.35
    noise_grain_px: float = 0.6
    focus_mm: float | None = None
    aperture_f: float = 5.0
    pixel_pitch_mm: float = 0.0039
    sharpen: float = 0.4
    sharpen_radius_px: float = 1.2
    tone: str = "srgb"
    white_balance: tuple = (0.97, 1.0, 1.02)

    def clean(self) -> Look:
        """The same scene with no blur, no noise, even light and a linear tone
        curve: for tests of geometric exactness."""
        return replace(self, vignetting=0.0, gradient=(0.0, 0.0), texture=0.0, blur_sigma_px=0.0,
                       defocus_px=0.0, motion_px=(0.0, 0.0), read_noise_dn=0.0, gain_dn_per_e=0.0, sharpen=0.0,
                       focus_mm=None, tone="linear", white_balance=(1.0, 1.0, 1.0))

    def at_scale(self, s: float) -> Look:
        """Blur lengths for an image ``s`` times the full resolution (previews)."""
        return replace(self, blur_sigma_px=self.blur_sigma_px * s, defocus_px=self.defocus_px * s,
                       sharpen_radius_px=self.sharpen_radius_px * s, pixel_pitch_mm=self.pixel_pitch_mm / s,
                       motion_px=(self.motion_px[0] * s, self.motion_px[1] * s),
                       noise_grain_px=self.noise_grain_px * s if s * self.noise_grain_px >= 0.3 else 0.0)


DEFAULT_LOOK = Look()
