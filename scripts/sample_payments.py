"""Write data/sample/payments.parquet: GOLD-2025's payable amounts, settled on 2026-02-16.

Run by `make sample` after the simulator, so that the period close and the roll-forward of the
sample show a real settlement (opening + expense - payments = closing).
"""

import sys
from pathlib import Path

import pandas as pd

import rebatelab as rl


def main(folder="data/sample", program_id="GOLD-2025", paid_on="2026-02-16") -> int:
    folder = Path(folder)
    data = rl.load_data(folder)
    programs = rl.load_programs(folder / "programs.yaml")
    end = programs[program_id].end
    acc = rl.accrue(data, programs.subset([program_id]), end)
    pay = acc.loc[acc["payable"] > 0, ["program_id", "customer_id", "payable"]]
    pay = pay.rename(columns={"payable": "amount"}).assign(date=pd.Timestamp(paid_on))
    pay[["program_id", "customer_id", "date", "amount"]].to_parquet(
        folder / "payments.parquet", index=False
    )
    print(f"{len(pay)} payments of {program_id}, {pay['amount'].sum():,.2f} -> {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
