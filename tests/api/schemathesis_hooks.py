"""Schemathesis hooks of the contract test (``SCHEMATHESIS_HOOKS``): real ids
and ticket codes mixed into the generated ones, and every answer's status
noted for the test.

Random ids find nothing but 404, and a random ticket code is never a
ticket. The test names the data it made in the environment variable
``CONTRACT_IDS``, JSON ``{"event_id": [...], "hold_id": [...], "order_id":
[...], "ticket_id": [...], "ticket_code": [...]}``; a generated integer path
parameter then takes, in turn, itself and each of those of its name (a
rotation per operation and name, not a random draw: a random one left an
id unvisited in one run of ten, and the test's checks of what the run
reached failed by chance), and so do the JSON body fields of
``BODY_FIELDS`` (check-in's ``code`` and ``event``), so the operations
reach their logic. A value the description refuses (negative
testing: another type, an id out of ``int64`` or below 1, a code off the
pattern) is left as generated, so a case meant to be refused still is.

With ``CONTRACT_STATUSES`` set, each answer appends ``METHOD path status``
(the path as the description names it) to that file: the test reads it to
check that the run reached what the data is for.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Callable
from typing import Any

import schemathesis
from hypothesis import strategies as st

REAL_IDS: dict[str, list[Any]] = json.loads(os.environ.get("CONTRACT_IDS", "{}"))
#: Body field -> the ``CONTRACT_IDS`` entry whose values it takes.
BODY_FIELDS = {"code": "ticket_code", "event": "event_id"}
#: What a ticket code looks like (``reservations.checkin.TICKET_CODE``, which Django must not be set up to import).
TICKET_CODE = re.compile(r"[A-Za-z0-9_-]{16,64}")
STATUSES = os.environ.get("CONTRACT_STATUSES")


#: (operation, parameter) -> the rotation of its values: the generated one's turn, then each real one.
_turns: dict[tuple[str, str], itertools.cycle] = {}


def _mixed(
    value: Any, real: list[Any] | None, *, valid: Callable[[Any], bool], context: Any, name: str
) -> st.SearchStrategy:
    """``value``, or the next of ``real`` in this operation's rotation when
    ``value`` is ``valid`` (else a case meant to be refused would become one
    that is not)."""
    if not (real and valid(value)):
        return st.just(value)
    operation = getattr(getattr(context, "operation", None), "label", "")
    turn = next(_turns.setdefault((operation, name), itertools.cycle([None, *real])))
    return st.just(value if turn is None else turn)


def _integer(value: Any) -> bool:
    return type(value) is int


def _body_value(value: Any) -> bool:
    """Valid as the body fields are described: an id (``int64``, from 1) or a ticket code."""
    if type(value) is int:
        return 0 < value < 2**63
    return isinstance(value, str) and TICKET_CODE.fullmatch(value) is not None


@schemathesis.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> st.SearchStrategy:
    if not path_parameters:
        return st.just(path_parameters)
    return st.fixed_dictionaries(
        {
            name: _mixed(value, REAL_IDS.get(name), valid=_integer, context=context, name=name)
            for name, value in path_parameters.items()
        }
    )


@schemathesis.hook
def flatmap_body(context: Any, body: Any) -> st.SearchStrategy:
    if not isinstance(body, dict) or not BODY_FIELDS.keys() & body.keys():
        return st.just(body)
    return st.fixed_dictionaries(
        {
            name: _mixed(value, REAL_IDS.get(BODY_FIELDS[name]), valid=_body_value, context=context, name=name)
            if name in BODY_FIELDS
            else st.just(value)
            for name, value in body.items()
        }
    )


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    if STATUSES:
        with open(STATUSES, "a") as out:
            out.write(f"{case.method.upper()} {case.operation.path} {response.status_code}\n")
