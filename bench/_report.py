"""How every benchmark prints its figures: a Markdown table, or JSON for scripts."""

from __future__ import annotations

import json


def emit(results: dict[str, float], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(results, indent=1))
        return
    print("| measure | value |\n|---|---|")
    for key, value in results.items():
        print(f"| {key} | {value:.4g} |")
