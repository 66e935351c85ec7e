"""The scenario's parameters, read from a YAML file (default: ``data/attenuation.yaml`` beside this).

Every number the scenario uses (attenuation coefficients, persons per m², shelter share and walking
distance) comes from the file, each documented with its source there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from spatial.errors import InvalidInput

DEFAULT_FILE = Path(__file__).with_name("data") / "attenuation.yaml"
DISTANCES = ("hypocentral", "epicentral")


@dataclass(frozen=True)
class Axis:
    """One axis of an intensity attenuation relation: I = a + b·M − c·ln(R + R0), R in km."""

    a: float
    b: float
    c: float
    r0: float

    def intensity(self, magnitude: float, r_km: float) -> float:
        """The intensity the relation gives at distance ``r_km``."""
        return self.a + self.b * magnitude - self.c * math.log(r_km + self.r0)

    def distance_km(self, magnitude: float, intensity: float) -> float:
        """The distance R at which the relation gives ``intensity`` (negative: never reached)."""
        return math.exp((self.a + self.b * magnitude - intensity) / self.c) - self.r0


@dataclass(frozen=True)
class Relation:
    """An elliptical attenuation relation of one region: a long and a short axis."""

    region: str
    title: str
    long: Axis
    short: Axis


@dataclass(frozen=True)
class Parameters:
    """Everything the scenario needs from the parameter file."""

    source: str
    relations: dict[str, Relation]
    default_region: str
    distance: str
    intensities: tuple[int, ...]
    vertices: int
    persons_per_m2: float
    residential_uses: tuple[str, ...]
    m2_per_person: float
    shelter_min_intensity: int
    shelter_share: float
    max_walk_m: float
    max_walk_limit_m: float

    def relation(self, region: str | None) -> Relation:
        """The relation of ``region`` (default: the file's); InvalidInput naming the known ones."""
        name = region or self.default_region
        if name not in self.relations:
            raise InvalidInput(f"region: one of {', '.join(sorted(self.relations))}")
        return self.relations[name]


def load_parameters(path: str | Path | None = None) -> Parameters:
    """The parameters in ``path`` (default: the packaged file)."""
    document = yaml.safe_load(Path(path or DEFAULT_FILE).read_text(encoding="utf-8"))
    attenuation, exposure, shelters = document["attenuation"], document["exposure"], document["shelters"]
    relations = {name: _relation(name, given) for name, given in attenuation["regions"].items()}
    parameters = Parameters(
        source=str(attenuation["source"]), relations=relations, default_region=str(attenuation["default_region"]),
        distance=str(attenuation["distance"]), intensities=tuple(int(i) for i in attenuation["intensities"]),
        vertices=int(attenuation["vertices"]), persons_per_m2=float(exposure["persons_per_m2"]),
        residential_uses=tuple(str(u) for u in exposure["residential_uses"]),
        m2_per_person=float(shelters["m2_per_person"]), shelter_min_intensity=int(shelters["min_intensity"]),
        shelter_share=float(shelters["share"]), max_walk_m=float(shelters["max_walk_m"]),
        max_walk_limit_m=float(shelters["max_walk_limit_m"]),
    )  # fmt: skip
    _check(parameters)
    return parameters


def _relation(name: str, given: dict[str, Any]) -> Relation:
    return Relation(name, str(given.get("title", name)), Axis(**given["long"]), Axis(**given["short"]))


def _check(parameters: Parameters) -> None:
    """A parameter file that cannot work is a deployment fault, said at once."""
    if parameters.distance not in DISTANCES:
        raise ValueError(f"attenuation.distance must be one of {DISTANCES}")
    if parameters.default_region not in parameters.relations:
        raise ValueError("attenuation.default_region must name one of the regions")
    if sorted(set(parameters.intensities)) != list(parameters.intensities):
        raise ValueError("attenuation.intensities must be increasing")
    if not 0 <= parameters.shelter_share <= 1 or parameters.vertices < 16:
        raise ValueError("shelters.share must be within 0..1 and attenuation.vertices at least 16")
