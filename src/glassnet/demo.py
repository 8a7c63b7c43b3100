"""`glassnet demo`: the guided tour on built-in data, on CPU, in minutes.

Today: an ANN learns who churns in a made-up customer table. The CNN and RNN sections join
as those families land.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from glassnet import api


def run_demo(out: Path, quick: bool = False) -> dict[str, api.Run]:
    """Train each family on built-in data under `out` (replaced) and print what it learned."""
    if out.exists() and (out / ".glassnet-demo").exists():
        shutil.rmtree(out)  # only ever a previous demo's folder
    out.mkdir(parents=True, exist_ok=True)
    (out / ".glassnet-demo").touch()
    print(
        "The Brain in a Box - part 1: an ANN (multilayer perceptron) on a table\n"
        "Data: builtin:customers - 5 000 made-up customers; target: churned (yes/no)\n"
    )
    ann = api.train(
        "tabular", "builtin:customers", out=out / "ann", epochs=5 if quick else 20, hidden=(64, 32)
    )
    test = ann.metrics.get("test", {})
    print(
        f"\nANN: test accuracy {test.get('accuracy', float('nan')):.3f}, "
        f"ROC-AUC {test.get('roc_auc', float('nan')):.3f}  ->  {ann.path}"
    )
    print(f"Try:  glassnet predict {ann.path} ~/.cache/glassnet/builtin/customers/customers.csv")
    return {"ann": ann}
