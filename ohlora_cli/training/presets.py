"""The fine-tune presets: one table that help text, validation, the stage and the loop all read.

G patterns are globs over the generator's parameter names; D's are built per discriminator, because
"its last 3 layers" are named after its resolution (``layer12..14`` at 256 px).  No torch here, so
the CLI can print the table in ``--help`` without importing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Preset:
    g_train: tuple[str, ...]  # trainable G parameters (globs)
    d_train: str  # "final" = D's 4x4 block and last dense layer; "all" = every D parameter; "latent" = a new D on w
    batch: int  # default --batch-size
    style_mixing: float  # style-mixing probability of the G steps
    summary: str  # one phrase for --help
    g_lr_mul: float = 1.0  # G's lr = --lr × this (D's is --lr)


PRESETS: Final[dict[str, Preset]] = {
    # docs/original.md §1.5: FineTune-v1 trained the mapping network with style mixing 0.9.
    "v1": Preset(("mapping.*",), "final", 16, 0.9, "mapping"),
    # docs/original.md §5: FineTune-v8 adds the 4x4 synthesis block, batch 8, no style mixing.
    "v8": Preset(("mapping.*", "synthesis.layer0.*", "synthesis.layer1.*", "synthesis.output0.*"), "final", 8, 0.0,
                 "mapping + 4x4 block"),
    # ohlora's own: everything trainable (the limited-data fine-tune of the embedded world).
    "all": Preset(("*",), "all", 8, 0.0, "every G and D parameter"),
    # ohlora's own: the mapping network against a new discriminator on w (models.latent), trained on the
    # selection's stored w; the synthesis network is the parent's.  GenForce's mapping layers scale their
    # weights by lr_mul 0.01, so G's lr is 100 × --lr (as the base recipe's warm-up --mapping-boost 100).
    "latent": Preset(("mapping.*",), "latent", 64, 0.0, "mapping, against a discriminator on the selection's w",
                     g_lr_mul=100.0),
}


# The per-layer noise strengths (one weight per channel, ``NoiseInput.weight``): `finetune --freeze-noise`
# keeps them at the parent's values whatever the preset trains.
NOISE_STRENGTHS: Final = "synthesis.*.apply_noise.weight"


def preset_help() -> str:
    """``v1 (mapping; batch 16, style mixing 0.9) | v8 (...) | all (...)``."""
    parts = []
    for name, p in PRESETS.items():
        mixing = f", style mixing {p.style_mixing:g}" if p.style_mixing else ""
        d = {"final": "; D: its last 3 layers", "latent": f"; G lr {p.g_lr_mul:g}x --lr"}.get(p.d_train, "")
        parts.append(f"{name} ({p.summary}; batch {p.batch}{mixing}{d})")
    return " | ".join(parts)
