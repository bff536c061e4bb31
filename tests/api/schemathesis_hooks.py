"""Schemathesis hooks of the contract test (``SCHEMATHESIS_HOOKS``): real ids
mixed into the generated ones.

Random ids find nothing but 404. The test names the data it made (events, a
hold and an order of the token's owner, another person's hold and order) in
the environment variable ``CONTRACT_IDS``, JSON ``{"event_id": [...],
"hold_id": [...], "order_id": [...]}``; a generated integer id is then drawn
among itself and those, so the operations reach their logic. A value that is
not an integer (negative testing) is left as generated.
"""

from __future__ import annotations

import json
import os
from typing import Any

import schemathesis
from hypothesis import strategies as st

REAL_IDS: dict[str, list[int]] = json.loads(os.environ.get("CONTRACT_IDS", "{}"))


@schemathesis.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> st.SearchStrategy:
    if not path_parameters:
        return st.just(path_parameters)
    drawn = {}
    for name, value in path_parameters.items():
        real = REAL_IDS.get(name)
        if real and type(value) is int:
            drawn[name] = st.sampled_from([value, *real])
        else:
            drawn[name] = st.just(value)
    return st.fixed_dictionaries(drawn)
