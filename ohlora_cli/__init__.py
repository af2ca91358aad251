"""ohlora: a controllable virtual face, rebuilt from the Oh-LoRA v3 StyleGAN pipeline."""

__version__ = "0.1.0"
