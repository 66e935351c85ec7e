"""The report of a city check: what each source holds and every problem, named by feature and field.

Errors stop a load before anything is written; warnings are printed and the load goes on;
notes say what was done to the data (geometries repaired, coordinates converted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning", "note"]
SHOWN_PER_FINDING = 10


@dataclass(frozen=True)
class Finding:
    """One problem or remark: where (section, file, features, field) and what."""

    severity: Severity
    section: str
    message: str
    features: tuple[str, ...] = ()
    """Feature references as a reader would find them: 'feature 12', 'code 610113'."""
    field: str | None = None

    def line(self) -> str:
        """'error  divisions.street  code 101, code 102: outside their parent (field BoroCD)'."""
        where = f"{self.section}"
        shown = ", ".join(self.features[:SHOWN_PER_FINDING])
        if len(self.features) > SHOWN_PER_FINDING:
            shown += f", … ({len(self.features)} in all)"
        parts = [f"{self.severity:<7} {where}:"]
        if shown:
            parts.append(f"{shown}:")
        parts.append(self.message)
        if self.field:
            parts.append(f"(field {self.field})")
        return " ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "section": self.section, "message": self.message,
                "features": list(self.features), "field": self.field}  # fmt: skip


@dataclass
class CityReport:
    """Findings and per-section counts of one check (and, after a load, what was written)."""

    city: str
    findings: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    version: int | None = None
    """The base-map version a load wrote (None for a check)."""

    def add(self, severity: Severity, section: str, message: str, *,
            features: list[Any] | tuple[Any, ...] = (), field: str | None = None) -> None:  # fmt: skip
        """Record a finding (features given as numbers or labels)."""
        self.findings.append(
            Finding(severity, section, message, tuple(str(f) for f in features), field)
        )

    def error(self, section: str, message: str, **where: Any) -> None:
        self.add("error", section, message, **where)

    def warning(self, section: str, message: str, **where: Any) -> None:
        self.add("warning", section, message, **where)

    def note(self, section: str, message: str, **where: Any) -> None:
        self.add("note", section, message, **where)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def ok(self) -> bool:
        """No errors: the load may write."""
        return not self.errors

    def lines(self) -> list[str]:
        """The report for the command line: counts, then findings, errors first."""
        counts = ", ".join(f"{n:,} {s}" for s, n in self.counts.items()) or "nothing read"
        out = [f"city {self.city}: {counts}"]
        order = {"error": 0, "warning": 1, "note": 2}
        out += [f.line() for f in sorted(self.findings, key=lambda f: order[f.severity])]
        verdict = "ok" if self.ok else f"{len(self.errors)} error(s): nothing was written"
        out.append(f"check: {verdict}")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"city": self.city, "ok": self.ok, "counts": self.counts, "seconds": self.seconds,
                "findings": [f.as_dict() for f in self.findings]}  # fmt: skip
