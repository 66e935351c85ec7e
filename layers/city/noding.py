"""Road lines split at their junctions, so that a routing node is a distinct end point.

The routing graph (``spatial.network.graph``) joins segments only at their end points, but an
OSM way runs through junctions: the crossing street shares one of its interior vertices. Every
line is cut at each interior vertex that another line also passes through (exact coordinate
equality: OSM junctions are shared nodes) or that is another line's end point. Lines that cross
without a shared vertex (a bridge over a street) stay whole.

    >>> from shapely import LineString
    >>> avenue = LineString([(0, -1), (0, 0), (0, 1)])
    >>> street = LineString([(-1, 0), (0, 0), (1, 0)])
    >>> pieces, source = split_at_junctions(np.array([avenue, street]))
    >>> len(pieces), source.tolist()
    (4, [0, 0, 1, 1])

Everything is done on the coordinate arrays at once (no loop over lines).
"""

from __future__ import annotations

import numpy as np
import shapely


def split_at_junctions(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pieces, index of the input line each piece comes from); multi-lines are exploded first.

    Repeated consecutive vertices are dropped and lines of no length vanish.
    """
    parts, part_of = shapely.get_parts(lines, return_index=True)
    coords, part = _distinct_vertices(parts)
    first = np.r_[True, part[1:] != part[:-1]] if len(part) else np.zeros(0, bool)
    last = np.r_[part[1:] != part[:-1], True] if len(part) else np.zeros(0, bool)
    split = _junction_vertices(coords, first, last)
    pieces, piece_part = _cut(coords, part, first, split)
    kept = shapely.length(pieces) > 0
    return pieces[kept], part_of[piece_part[kept]]


def _distinct_vertices(parts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2D coordinates and their part's index, without repeats in a row or one-vertex parts."""
    coords, part = shapely.get_coordinates(parts, return_index=True)
    if not len(coords):
        return coords, part
    repeat = np.r_[False, (coords[1:] == coords[:-1]).all(axis=1) & (part[1:] == part[:-1])]
    coords, part = coords[~repeat], part[~repeat]
    vertices = np.bincount(part, minlength=len(parts))
    whole = vertices[part] >= 2
    return coords[whole], part[whole]


def _junction_vertices(coords: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Interior vertices met again elsewhere (another line, or this one) or at a line's end."""
    if not len(coords):
        return np.zeros(0, bool)
    _, node, occurrences = np.unique(coords, axis=0, return_inverse=True, return_counts=True)
    node = node.ravel()
    end = first | last
    is_end_point = np.zeros(len(occurrences), bool)
    is_end_point[node[end]] = True
    return ~end & ((occurrences[node] > 1) | is_end_point[node])


def _cut(
    coords: np.ndarray, part: np.ndarray, first: np.ndarray, split: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pieces from vertices: a split vertex ends one piece and, repeated, starts the next."""
    if not len(coords):
        return np.empty(0, dtype=object), np.zeros(0, np.intp)
    copies = np.where(split, 2, 1)
    out = np.repeat(coords, copies, axis=0)
    last_copy = np.cumsum(copies) - 1
    starts = np.zeros(len(out), bool)
    starts[last_copy - (copies - 1)] = first
    starts[last_copy[split]] = True
    piece = np.cumsum(starts) - 1
    pieces = shapely.linestrings(out, indices=piece)
    return pieces, np.repeat(part, copies)[starts]
