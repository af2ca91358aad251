"""Recipe for the bundled ``tiny`` generator (32×32, z 512 + 7 labels, 2 mapping layers, channels ≤ 32).

Seeded initialisation, untrained: it renders abstract colour fields, not faces. It exists for fast
smoke tests of every code path (the test suite uses it); the default is the synthetic base generator.

    python scripts/make_tiny_generator.py
"""

import json
from pathlib import Path

import torch

from ohlora_cli.models.checkpoints import save_checkpoint, sha256_file
from ohlora_cli.models.stylegan import GeneratorConfig, StyleGANGenerator

ASSETS = Path(__file__).resolve().parents[1] / "ohlora_cli" / "assets"


def main() -> None:
    torch.manual_seed(2026)
    G = StyleGANGenerator(GeneratorConfig(32, label_size=7, mapping_layers=2, fmaps_base=256, fmaps_max=32))
    for name, p in G.named_parameters():  # non-zero noise strength and biases so every code path is exercised
        if name.endswith("apply_noise.weight"):
            p.data.fill_(0.1)
    G.truncation.w_avg.copy_(G.mapping(torch.randn(4096, 512), torch.randn(4096, 7)).mean(0).detach())
    path = ASSETS / "tiny-g32.pt"
    save_checkpoint(path, G, lineage={"recipe": "python scripts/make_tiny_generator.py"})
    manifest_path = ASSETS / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"generators": {}}
    manifest["generators"]["tiny"] = {
        "file": path.name, "sha256": sha256_file(path), "recipe": "python scripts/make_tiny_generator.py",
        "description": "32px conditional StyleGAN (z 512 + 7 labels, 2 mapping layers, channels 32), untrained; for smoke tests",
    }
    manifest.setdefault("default_generator", "tiny")
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    print(path, path.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
