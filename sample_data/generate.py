"""Generate the bundled sample data: a synthetic subscription-churn problem plus drifting production batches.

Run `python sample_data/generate.py` (default output: sample_data/data). Standard library only and seeded,
so the output is byte-for-byte reproducible: `--out DIR` lets a test regenerate it elsewhere and compare.
"""

from __future__ import annotations

import argparse
import csv
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

SEED = 20251126
TRAIN_ROWS = 20_000
BATCHES = 6
BATCH_ROWS = 2_500
TRAIN_START = datetime(2025, 1, 1)
TRAIN_END = datetime(2026, 1, 1)

COLUMNS = [
    "customer_id", "observed_at", "age", "region", "plan", "contract", "payment_method", "device",
    "tenure_months", "monthly_fee", "sessions_30d", "avg_session_min", "support_tickets_90d",
    "days_since_last_login", "auto_renew",
]
TARGET = "churned"

REGIONS = ["DE", "FR", "GB", "ES", "IT", "NL", "PL", "SE", "US", "CA", "BR", "IN"]
REGION_WEIGHTS = [18, 13, 14, 9, 8, 6, 5, 4, 11, 4, 5, 3]
PLANS = ["basic", "standard", "premium", "family"]
PLAN_FEE = {"basic": 9.99, "standard": 15.99, "premium": 22.99, "family": 27.99}
CONTRACTS = ["monthly", "annual", "two_year"]
PAYMENTS = ["card", "bank_transfer", "paypal", "invoice", "voucher"]
DEVICES = ["android", "ios", "web", "smart_tv", "console"]


@dataclass(frozen=True)
class Drift:
    """How far a production batch has moved from the training distribution (all zero = training)."""

    fee_rise: float = 0.0         # price increase in currency units, on top of the plan price
    monthly_share: float = 0.0    # extra probability of a month-to-month contract
    paypal_shift: float = 0.0     # share of "invoice" payers moving to "paypal"
    new_region_share: float = 0.0  # share of customers from a region never seen in training ("MX")
    login_null_rate: float = 0.04  # share of missing days_since_last_login (tracking outage)
    engagement: float = 1.0       # multiplier on sessions per month
    tv_shift: float = 0.0         # extra probability of the smart_tv device
    ticket_effect: float = 0.0    # concept drift: support tickets predict churn more strongly


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method: fine for the small means used here, and stable across Python versions.
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _pick(rng: random.Random, values: list[str], weights: list[float]) -> str:
    return rng.choices(values, weights)[0]


def _row(rng: random.Random, drift: Drift) -> tuple[dict[str, Any], int]:
    """One customer's features (None = missing) and their churn label."""
    age_raw = max(18, min(85, int(rng.gauss(38, 12))))
    if rng.random() < drift.new_region_share:
        region = "MX"
    else:
        region = _pick(rng, REGIONS, REGION_WEIGHTS)
    young = age_raw < 26
    plan = _pick(rng, PLANS, [30, 38, 20, 12] if not young else [45, 35, 15, 5])
    monthly_w = 0.52 + drift.monthly_share + (0.1 if young else 0.0)
    rest = 1.0 - monthly_w
    contract = _pick(rng, CONTRACTS, [monthly_w, rest * 0.62, rest * 0.38])
    invoice_w = 14 * (1.0 - drift.paypal_shift)
    payment = _pick(rng, PAYMENTS, [42, 22, 16 + 14 * drift.paypal_shift, invoice_w, 6])
    device = _pick(rng, DEVICES, [34, 27, 17, 15 + 30 * drift.tv_shift, 7])

    # Tenure is right-skewed: many new customers, a long tail of loyal ones; longer contracts stay longer.
    tenure_mean = {"monthly": 11.0, "annual": 24.0, "two_year": 38.0}[contract]
    tenure = min(96, int(rng.expovariate(1.0 / tenure_mean)))
    fee = PLAN_FEE[plan] + drift.fee_rise + rng.gauss(0, 1.2)
    if contract != "monthly":
        fee *= 0.9 if contract == "annual" else 0.82
    fee = max(4.99, fee)
    sessions = _poisson(rng, max(0.3, rng.lognormvariate(math.log(14), 0.7) * drift.engagement))
    avg_min = rng.lognormvariate(math.log(26 if device in ("smart_tv", "console") else 17), 0.55)
    tickets = _poisson(rng, 0.6 + (0.5 if fee > 20 else 0.0) + (0.4 if tenure < 3 else 0.0))
    last_login = min(180, int(rng.expovariate(1.0 / (3.0 + 60.0 / (1.0 + sessions)))))
    auto_renew = rng.random() < (0.35 if contract == "monthly" else 0.75)

    # The churn mechanism: several main effects, an interaction and a hidden factor, so the problem is
    # learnable (AUC around 0.8) but not trivial.
    z = -1.1
    z += {"monthly": 1.05, "annual": 0.0, "two_year": -0.75}[contract]
    z -= 0.45 * math.log1p(tenure)
    z += (0.32 + drift.ticket_effect) * min(tickets, 6)
    z += 0.022 * min(last_login, 60)
    z -= 0.35 * math.log1p(sessions)
    z += 0.55 if payment == "invoice" else 0.0
    z += 0.045 * (fee - 16.0)
    z += 0.5 if (contract == "monthly" and fee > 20) else 0.0
    z -= 0.55 if auto_renew else 0.0
    z += 0.35 if young else 0.0
    z += {"BR": 0.3, "IN": 0.35, "US": 0.15, "MX": 0.4, "DE": -0.15}.get(region, 0.0)
    z += rng.gauss(0, 0.6)
    churned = 1 if rng.random() < 1.0 / (1.0 + math.exp(-z)) else 0

    row: dict[str, Any] = {
        "age": None if rng.random() < 0.02 else age_raw,
        "region": region,
        "plan": plan,
        "contract": contract,
        "payment_method": payment,
        "device": None if rng.random() < 0.012 else device,
        "tenure_months": tenure,
        "monthly_fee": f"{fee:.2f}",
        "sessions_30d": sessions,
        "avg_session_min": None if rng.random() < 0.015 else f"{avg_min:.1f}",
        "support_tickets_90d": tickets,
        "days_since_last_login": None if rng.random() < drift.login_null_rate else last_login,
        "auto_renew": "true" if auto_renew else "false",
    }
    return row, churned


def _timestamps(rng: random.Random, n: int, start: datetime, end: datetime) -> list[str]:
    span = int((end - start).total_seconds())
    secs = sorted(rng.randrange(span) for _ in range(n))
    return [(start + timedelta(seconds=s)).strftime("%Y-%m-%d %H:%M:%S") for s in secs]


def _rows(rng: random.Random, n: int, first_id: int, start: datetime, end: datetime,
          drift: Drift) -> tuple[list[list[Any]], list[int]]:
    times = _timestamps(rng, n, start, end)
    rows, labels = [], []
    for i in range(n):
        feats, y = _row(rng, drift)
        feats["customer_id"] = f"C{first_id + i:06d}"
        feats["observed_at"] = times[i]
        rows.append(["" if feats[c] is None else feats[c] for c in COLUMNS])
        labels.append(y)
    return rows, labels


def batch_drift(k: int) -> Drift:
    """Production batch k (1-based): drift grows month by month; a new region appears in batch 5."""
    s = (k - 1) / (BATCHES - 1)
    return Drift(
        fee_rise=3.0 * s,
        monthly_share=0.14 * s,
        paypal_shift=0.6 * s,
        new_region_share=0.0 if k < 5 else 0.06 * (k - 4),
        login_null_rate=0.04 + 0.12 * s,
        engagement=1.0 - 0.25 * max(0.0, s - 0.4),
        tv_shift=0.4 * s,
        ticket_effect=0.15 * s,
    )


def _month_start(year: int, month: int) -> datetime:
    return datetime(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def _write(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def generate(out: Path, seed: int = SEED) -> list[Path]:
    """Write churn.csv, production/churn_batch_NN.csv and labels/churn_labels_NN.csv under `out`."""
    rng = random.Random(seed)
    written = []
    rows, labels = _rows(rng, TRAIN_ROWS, 1, TRAIN_START, TRAIN_END, Drift())
    path = out / "churn.csv"
    _write(path, COLUMNS + [TARGET], [r + [y] for r, y in zip(rows, labels)])
    written.append(path)
    next_id = TRAIN_ROWS + 1
    for k in range(1, BATCHES + 1):
        start, end = _month_start(2026, k), _month_start(2026, k + 1)
        rows, labels = _rows(rng, BATCH_ROWS, next_id, start, end, batch_drift(k))
        path = out / "production" / f"churn_batch_{k:02d}.csv"
        _write(path, COLUMNS, rows)
        lpath = out / "labels" / f"churn_labels_{k:02d}.csv"
        _write(lpath, ["customer_id", TARGET], [[r[0], y] for r, y in zip(rows, labels)])
        written += [path, lpath]
        next_id += BATCH_ROWS
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "data",
                        help="output folder (default: sample_data/data next to this script)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    args = parser.parse_args(argv)
    for path in generate(args.out, args.seed):
        print(f"{path}  {path.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
