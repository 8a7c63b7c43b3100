"""Real series bundled offline in installed packages (statsmodels' datasets, the data files
in sktime's wheel: read as files, sktime is never imported), each with the horizon the
forecasting literature uses for its frequency (weekly 52, monthly 12, quarterly 8, yearly 6).

    SERIES["airline"]() -> (frame with columns time, value; horizon)
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import pandas as pd

HORIZON = {"W": 52, "M": 12, "Q": 8, "Y": 6}


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{package} is not installed (pip install {package})")
    return Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)


def _sktime(name: str) -> pd.DataFrame:
    return pd.read_csv(_package_file("sktime", "datasets", "data", name, f"{name}.csv"))


def _frame(times: pd.Series | list, values: pd.Series | list) -> pd.DataFrame:
    return pd.DataFrame({"time": list(times), "value": [float(v) for v in values]})


def airline() -> pd.DataFrame:  # trend + multiplicative season, 144 months
    d = _sktime("Airline")
    return _frame(pd.to_datetime(d["Date"]).dt.strftime("%Y-%m-01"), d["Passengers"])


def elec_equip() -> pd.DataFrame:  # noisy industrial orders, 257 months
    d = pd.read_csv(_package_file("statsmodels", "datasets", "elec_equip", "elec_equip.csv"))
    return _frame(
        pd.to_datetime(d["DATE"], format="%b-%d-%Y").dt.strftime("%Y-%m-%d"), d.iloc[:, 1]
    )


def seatbelts() -> pd.DataFrame:  # UK road casualties, a level shift in 1983, 192 months
    d = _sktime("seatbelts")
    return _frame(d.iloc[:, 0], d["KSI"])


def co2_monthly() -> pd.DataFrame:  # Mauna Loa, monthly means, 526 months
    from statsmodels.datasets import co2

    m = co2.load_pandas().data["co2"].resample("MS").mean().interpolate()
    return _frame(m.index.strftime("%Y-%m-%d"), m.values)


def co2_weekly() -> pd.DataFrame:  # Mauna Loa, 2 284 weeks (glassnet's builtin:co2)
    from statsmodels.datasets import co2

    w = co2.load_pandas().data["co2"].interpolate()
    return _frame(w.index.strftime("%Y-%m-%d"), w.values)


def pbs() -> pd.DataFrame:  # Australian prescriptions, 204 months
    d = _sktime("PBS_dataset")
    return _frame(pd.to_datetime(d["Month"], format="%Y %b").dt.strftime("%Y-%m-%d"), d["Scripts"])


def gdp() -> pd.DataFrame:  # US real GDP, 203 quarters
    from statsmodels.datasets import macrodata

    d = macrodata.load_pandas().data
    quarters = pd.PeriodIndex.from_fields(
        year=d["year"].astype(int), quarter=d["quarter"].astype(int), freq="Q"
    )
    return _frame(quarters.to_timestamp().strftime("%Y-%m-%d"), d["realgdp"])


def consumption() -> pd.DataFrame:  # US consumption growth, 187 quarters
    d = _sktime("Uschange")
    quarters = pd.PeriodIndex(d["Quarter"].str.replace(" ", ""), freq="Q")
    return _frame(quarters.to_timestamp().strftime("%Y-%m-%d"), d["Consumption"])


def lynx() -> pd.DataFrame:  # Canadian lynx trappings, 114 years, a ~10-year cycle
    d = _sktime("Lynx")
    return _frame(d.iloc[:, 0].astype(int), d.iloc[:, 1])


def sunspots() -> pd.DataFrame:  # 309 years, an ~11-year cycle
    from statsmodels.datasets import sunspots as s

    d = s.load_pandas().data
    return _frame(d["YEAR"].astype(int), d["SUNACTIVITY"])


def nile() -> pd.DataFrame:  # Nile flow, 100 years, one change point
    from statsmodels.datasets import nile as n

    d = n.load_pandas().data
    return _frame(d["year"].astype(int), d["volume"])


# name -> (loader, frequency letter, season for the statistical peers)
SERIES: dict[str, tuple[Callable[[], pd.DataFrame], str, int]] = {
    "airline": (airline, "M", 12),
    "elec_equip": (elec_equip, "M", 12),
    "seatbelts": (seatbelts, "M", 12),
    "co2_monthly": (co2_monthly, "M", 12),
    "co2_weekly": (co2_weekly, "W", 52),
    "pbs": (pbs, "M", 12),
    "gdp": (gdp, "Q", 4),
    "consumption": (consumption, "Q", 4),
    "lynx": (lynx, "Y", 1),
    "sunspots": (sunspots, "Y", 1),
    "nile": (nile, "Y", 1),
}
