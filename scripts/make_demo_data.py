"""Regenerate the demo's sample tables in src/unseen/demo/sample/ (synthetic people).

A bank's customers (label ``default`` and credit features) and a telecom's
subscribers (usage features), keyed by mobile number, with a partial overlap,
a few duplicate rows and a few IDs with stray spaces. The default label depends
on features at *both* parties, so a joint model beats the bank's alone.

    python scripts/make_demo_data.py

numpy.random is fine here: this is public synthetic test data, not a secret.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "src" / "unseen" / "demo" / "sample"
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗")
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂")


def main(seed: int = 20261127) -> None:
    rng = np.random.default_rng(seed)
    population = 9000
    prefixes = np.array(["138", "139", "135", "136", "186", "187", "150", "151", "177", "199"])
    phones = {
        p + f"{n:08d}"
        for p, n in zip(
            rng.choice(prefixes, population * 2),
            rng.integers(0, 10**8, population * 2),
            strict=True,
        )
    }
    phones = np.array(sorted(phones))[:population]
    rng.shuffle(phones)
    names = [rng.choice(SURNAMES) + "".join(rng.choice(GIVEN, rng.integers(1, 3))) for _ in phones]

    # latent traits shared by both views of a person
    n = population
    age = rng.integers(21, 70, n)
    income = np.round(np.exp(rng.normal(2.3, 0.5, n)), 1)  # thousand CNY / month
    utilization = np.clip(rng.beta(2, 3, n) + rng.normal(0, 0.05, n), 0, 1).round(3)
    late_12m = rng.poisson(0.4 + 1.5 * utilization, n)
    loans = rng.poisson(1.2, n)
    months_cust = rng.integers(1, 240, n)
    credit_limit = np.round(income * rng.uniform(2, 6, n), 1)

    tenure = rng.integers(1, 180, n)
    bill = np.round(np.exp(rng.normal(4.3, 0.5, n)), 2)  # CNY / month
    data_gb = np.round(rng.gamma(2.0, 8.0, n), 1)
    calls = np.round(rng.gamma(2.0, 3.0, n), 1)
    overdue_6m = rng.poisson(0.3 + 0.8 * (bill / income > 12), n)
    plan_changes = rng.poisson(0.8, n)
    roaming = (rng.random(n) < 0.12).astype(int)

    logit = (
        -2.2
        + 2.2 * (utilization - 0.4)
        + 0.55 * late_12m
        - 0.25 * (income - 10) / 5
        - 0.012 * (age - 40)
        + 0.75 * overdue_6m
        - 0.008 * (tenure - 60)
        + 0.35 * plan_changes
        - 0.004 * months_cust
    )
    default = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)

    people = pd.DataFrame(
        {
            "phone": phones,
            "name": names,
            "age": age,
            "income_k": income,
            "credit_limit_k": credit_limit,
            "utilization": utilization,
            "num_loans": loans,
            "months_as_customer": months_cust,
            "late_payments_12m": late_12m,
            "default": default,
            "tenure_months": tenure,
            "monthly_bill": bill,
            "data_gb": data_gb,
            "calls_per_day": calls,
            "roaming": roaming,
            "overdue_bills_6m": overdue_6m,
            "plan_changes_12m": plan_changes,
        }
    )
    idx = np.arange(n)
    bank_idx = idx[:5000]  # people 0..4999
    tel_idx = idx[1500:7500]  # people 1500..7499: 3500 shared with the bank
    bank_cols = [
        "phone",
        "name",
        "age",
        "income_k",
        "credit_limit_k",
        "utilization",
        "num_loans",
        "months_as_customer",
        "late_payments_12m",
        "default",
    ]
    tel_cols = [
        "phone",
        "tenure_months",
        "monthly_bill",
        "data_gb",
        "calls_per_day",
        "roaming",
        "overdue_bills_6m",
        "plan_changes_12m",
    ]
    bank = people.loc[bank_idx, bank_cols].sample(frac=1, random_state=1)
    tel = people.loc[tel_idx, tel_cols].sample(frac=1, random_state=2)
    tel = tel.rename(columns={"phone": "msisdn"})
    # a few duplicate rows (re-registrations) and stray spaces from manual entry
    bank = pd.concat([bank, bank.iloc[[10, 200, 3000]]], ignore_index=True)
    tel = pd.concat([tel, tel.iloc[[5, 4321]]], ignore_index=True)
    bank.loc[bank.index[[7, 77]], "phone"] = " " + bank.loc[bank.index[[7, 77]], "phone"]
    tel.loc[tel.index[[9]], "msisdn"] = tel.loc[tel.index[[9]], "msisdn"] + " "
    OUT.mkdir(parents=True, exist_ok=True)
    bank.to_csv(OUT / "bank_customers.csv", index=False)
    tel.to_csv(OUT / "telecom_subscribers.csv", index=False)
    print(f"bank {len(bank)} rows, telecom {len(tel)} rows -> {OUT}")


if __name__ == "__main__":
    main()
