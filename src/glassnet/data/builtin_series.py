"""Built-in series from statsmodels' bundled data sets, written as long-format CSVs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from glassnet.data.builtin import BuiltinDataset, register_dataset, sktime_data
from glassnet.data.files import atomic_write_text


def _write(frame: pd.DataFrame, directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.csv"
    atomic_write_text(path, frame.to_csv(index=False))
    return path


def make_co2(directory: Path) -> Path:
    """Weekly CO2 at Mauna Loa, 1958-2001; weeks without a reading are left out (gaps)."""
    from statsmodels.datasets import co2

    data = co2.load_pandas().data.dropna()
    frame = pd.DataFrame({"date": data.index.strftime("%Y-%m-%d"), "co2": data["co2"].values})
    return _write(frame, directory, "co2")


def make_sunspots(directory: Path) -> Path:
    from statsmodels.datasets import sunspots

    data = sunspots.load_pandas().data
    frame = pd.DataFrame({"year": data["YEAR"].astype(int), "sunspots": data["SUNACTIVITY"]})
    return _write(frame, directory, "sunspots")


def make_airline(directory: Path) -> Path:
    """Monthly airline passengers 1949-1960 (Box & Jenkins): trend and growing seasons."""
    data = pd.read_csv(sktime_data("Airline") / "Airline.csv")
    dates = pd.to_datetime(data["Date"], format="%Y-%m").dt.strftime("%Y-%m-%d")
    return _write(
        pd.DataFrame({"month": dates, "passengers": data["Passengers"]}), directory, "airline"
    )


def make_elec_equip(directory: Path) -> Path:
    """Monthly euro-area electrical equipment orders 1995-2016: noisy, with a 2009 slump."""
    import statsmodels.datasets

    folder = Path(next(iter(statsmodels.datasets.__path__))) / "elec_equip"
    data = pd.read_csv(folder / "elec_equip.csv")
    dates = pd.to_datetime(data["DATE"], format="%b-%d-%Y").dt.strftime("%Y-%m-%d")
    frame = pd.DataFrame({"month": dates, "orders": data.iloc[:, 1]})
    return _write(frame, directory, "elec-equip")


def make_elnino(directory: Path) -> Path:
    """Monthly sea-surface temperature of the El Nino region, 1950-2010."""
    from statsmodels.datasets import elnino

    wide = elnino.load_pandas().data
    months = [c for c in wide.columns if c != "YEAR"]
    long = wide.melt(id_vars="YEAR", value_vars=months, var_name="month", value_name="sst")
    long["date"] = pd.to_datetime(
        long["YEAR"].astype(int).astype(str) + "-" + long["month"].str.title(), format="%Y-%b"
    )
    long = long.sort_values("date")
    frame = pd.DataFrame({"date": long["date"].dt.strftime("%Y-%m-%d"), "sst": long["sst"]})
    return _write(frame, directory, "elnino")


def make_macrodata(directory: Path) -> Path:
    """US quarterly macro series 1959-2009: real GDP, consumption, investment, rates."""
    from statsmodels.datasets import macrodata

    data = macrodata.load_pandas().data
    dates = pd.PeriodIndex.from_fields(
        year=data["year"].astype(int), quarter=data["quarter"].astype(int), freq="Q"
    )
    frame = data.drop(columns=["year", "quarter"])
    frame.insert(0, "date", dates.to_timestamp().strftime("%Y-%m-%d"))
    return _write(frame, directory, "macrodata")


register_dataset(
    BuiltinDataset(
        "co2",
        "forecasting",
        "weekly CO2 at Mauna Loa 1958-2001, with gaps (statsmodels)",
        make_co2,
        {"time": "date", "target": "co2", "fill": True, "horizon": 52},
    )
)
register_dataset(
    BuiltinDataset(
        "sunspots",
        "forecasting",
        "yearly sunspot numbers 1700-2008 (statsmodels)",
        make_sunspots,
        {"time": "year", "target": "sunspots", "horizon": 5},
    )
)
register_dataset(
    BuiltinDataset(
        "airline",
        "forecasting",
        "monthly airline passengers 1949-1960, trend and growing seasons (sktime's files)",
        make_airline,
        {"time": "month", "target": "passengers", "horizon": 12},
    )
)
register_dataset(
    BuiltinDataset(
        "elec-equip",
        "forecasting",
        "monthly electrical equipment orders 1995-2016, noisy (statsmodels)",
        make_elec_equip,
        {"time": "month", "target": "orders", "horizon": 12},
    )
)
register_dataset(
    BuiltinDataset(
        "elnino",
        "forecasting",
        "monthly El Nino sea temperature 1950-2010 (statsmodels)",
        make_elnino,
        {"time": "date", "target": "sst", "horizon": 12},
    )
)
register_dataset(
    BuiltinDataset(
        "macrodata",
        "forecasting",
        "US quarterly GDP, consumption, investment, ... 1959-2009 (statsmodels): covariates",
        make_macrodata,
        {"time": "date", "target": "realgdp", "past": ["realcons", "realinv"], "horizon": 8},
    )
)
