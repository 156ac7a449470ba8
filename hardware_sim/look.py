"""How a simulated photograph looks: materials, light, optics and sensor."""

from __future__ import annotations

from dataclasses import dataclass, field, replace


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
    tone : {"srgb", "linear"}
        Tone curve from raw to 8 bits.
    white_balance : (float, float, float)
        Residual BGR gains after the tone curve (a slightly warm cast).
    supersampling : int
        Sub-scanlines per pixel row of the rasteriser.
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
    tone: str = "srgb"
    white_balance: tuple = (0.97, 1.0, 1.02)
    supersampling: int = 16

    def clean(self) -> "Look":
        """The same scene with no blur, no noise, even light and a linear tone
        curve: for tests of geometric exactness."""
        return replace(self, vignetting=0.0, gradient=(0.0, 0.0), texture=0.0, blur_sigma_px=0.0,
                       defocus_px=0.0, motion_px=(0.0, 0.0), read_noise_dn=0.0, gain_dn_per_e=0.0,
                       tone="linear", white_balance=(1.0, 1.0, 1.0))

    def at_scale(self, s: float) -> "Look":
        """Blur lengths for an image ``s`` times the full resolution (previews)."""
        return replace(self, blur_sigma_px=self.blur_sigma_px * s, defocus_px=self.defocus_px * s,
                       motion_px=(self.motion_px[0] * s, self.motion_px[1] * s))


DEFAULT_LOOK = Look()
