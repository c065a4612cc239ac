"""Who was met: distinct contact roles, the senior ones among them, CTO touches."""

from __future__ import annotations

import numpy as np

from features.crm.schema import CONTACT_ROLES, SENIOR_ROLES
from features.pit.per_row import Known, Row
from features.pit.rows import Columns, FrameRows


def decision_chain(r: FrameRows) -> Columns:
    """Distinct contact roles met, the senior ones among them, and CTO touches."""
    log = r.log
    met = {role: log.subset(log.role == i).count(r.start, r.now) for i, role in enumerate(CONTACT_ROLES)}
    return {
        "roles_met_n": np.sum([n > 0 for n in met.values()], axis=0, dtype=np.int32),
        "senior_roles_met_n": np.sum([met[role] > 0 for role in SENIOR_ROLES], axis=0, dtype=np.int32),
        "cto_touches_n": met["cto"],
    }


def decision_chain_row(k: Known) -> Row:
    """``decision_chain`` for one row."""
    met = dict.fromkeys(CONTACT_ROLES, 0)
    for role in k.role:
        if role >= 0:
            met[CONTACT_ROLES[role]] += 1
    return {
        "roles_met_n": sum(n > 0 for n in met.values()),
        "senior_roles_met_n": sum(met[role] > 0 for role in SENIOR_ROLES),
        "cto_touches_n": met["cto"],
    }
