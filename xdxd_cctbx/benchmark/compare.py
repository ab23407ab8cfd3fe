"""Compare a solution with a reference model: emma matching with allowed origin shifts."""
from __future__ import annotations

import dataclasses
import logging

logger = logging.getLogger(__name__)

MATCH_TOLERANCE = 0.5  # Angstrom: the project's fixed match criterion


@dataclasses.dataclass
class ModelComparison:
    """Outcome of matching a solution's non-H atoms against a reference's."""

    n_reference: int
    n_solution: int
    n_matched: int  # reference atoms with a unique partner within the tolerance
    n_element_agree: int  # of those, partners of the same element
    rmsd: float | None  # over matched pairs, Angstrom
    tolerance: float = MATCH_TOLERANCE
    inverted: bool = False

    @property
    def matched_fraction(self) -> float:
        return self.n_matched / self.n_reference if self.n_reference else 0.0

    @property
    def match(self) -> bool:
        """Every reference non-H atom has a partner within the tolerance."""
        return self.n_reference > 0 and self.n_matched == self.n_reference

    @property
    def match_strict(self) -> bool:
        """``match`` and every partner has the reference atom's element."""
        return self.match and self.n_element_agree == self.n_reference

    def as_dict(self) -> dict:
        return {
            "match": self.match,
            "match_strict": self.match_strict,
            "n_reference": self.n_reference,
            "n_solution": self.n_solution,
            "n_matched": self.n_matched,
            "n_element_agree": self.n_element_agree,
            "matched_fraction": round(self.matched_fraction, 4),
            "rmsd": None if self.rmsd is None else round(self.rmsd, 4),
            "tolerance": self.tolerance,
        }

    def __repr__(self):
        rms = "n/a" if self.rmsd is None else f"{self.rmsd:.3f} A"
        return (f"ModelComparison({self.n_matched}/{self.n_reference} matched within {self.tolerance} A, "
                f"{self.n_element_agree} same element, rmsd {rms})")


def non_hydrogen(xray_structure):
    return xray_structure.select(~xray_structure.hd_selection())


def major_component(xray_structure, distance: float = 1.3):
    """Drop the minor site of modelled disorder: of two partially occupied atoms
    closer than ``distance``, the one with lower occupancy (the later if equal)."""
    from cctbx.array_family import flex

    scatterers = xray_structure.scatterers()
    partial = [i for i, sc in enumerate(scatterers) if sc.occupancy < 0.999]
    if len(partial) < 2:
        return xray_structure
    drop = set()
    for a, i in enumerate(partial):
        for j in partial[a + 1:]:
            if i in drop or j in drop:
                continue
            d = _min_sym_distance(xray_structure, scatterers[i].site, scatterers[j].site)
            if d < distance:
                drop.add(j if scatterers[i].occupancy >= scatterers[j].occupancy else i)
    keep = flex.bool([i not in drop for i in range(scatterers.size())])
    return xray_structure.select(keep)


def _min_sym_distance(xray_structure, site_a, site_b) -> float:
    from cctbx import sgtbx

    info = sgtbx.min_sym_equiv_distance_info(
        xray_structure.crystal_symmetry().special_position_settings().sym_equiv_sites(site_a), site_b)
    return info.dist()


def compare_structures(reference, solution, tolerance: float = MATCH_TOLERANCE) -> ModelComparison:
    """Match non-H atoms of ``solution`` onto ``reference`` (cctbx xray.structures).

    Allowed origin shifts and the enantiomorph are searched by emma; the match
    with the most reference atoms within ``tolerance`` wins (ties: lower rmsd).
    Pairs are unique. Both structures must be in the same space group setting.
    emma stops at the first complete match; when that one pairs atoms of unlike
    elements, the full search is run and its match kept if more elements agree.
    """
    ref = major_component(non_hydrogen(reference))
    sol = non_hydrogen(solution)
    n_ref, n_sol = ref.scatterers().size(), sol.scatterers().size()
    if n_ref == 0 or n_sol == 0:
        return ModelComparison(n_ref, n_sol, 0, 0, None, tolerance)
    sol = sol.customized_copy(crystal_symmetry=ref.crystal_symmetry())
    ref_model = _emma_model(ref)
    sol_model = _emma_model(sol)
    ref_elements = [sc.element_symbol() or sc.scattering_type for sc in ref.scatterers()]
    sol_elements = [sc.element_symbol() or sc.scattering_type for sc in sol.scatterers()]
    best = _best_match(ref_model, sol_model, ref_elements, sol_elements, tolerance, True)
    if best.match and not best.match_strict:
        # emma stops at the first complete match; under pseudo-symmetry that can pair unlike
        # atoms (2101915: As with B, rmsd 0.25 A) where a full search finds the right one
        full = _best_match(ref_model, sol_model, ref_elements, sol_elements, tolerance, False)
        if (full.n_matched, full.n_element_agree) > (best.n_matched, best.n_element_agree):
            best = full
    return best


def _best_match(ref_model, sol_model, ref_elements, sol_elements, tolerance: float,
                stop_at_complete: bool) -> ModelComparison:
    """The emma match with the most reference atoms within ``tolerance`` (ties: lower rmsd)."""
    from cctbx import euclidean_model_matching as emma

    n_ref, n_sol = len(ref_elements), len(sol_elements)
    matches = emma.model_matches(
        ref_model, sol_model, tolerance=max(1.0, 2 * tolerance),
        models_are_diffraction_index_equivalent=True,
        break_if_match_with_no_singles=stop_at_complete,
    ).refined_matches
    best = ModelComparison(n_ref, n_sol, 0, 0, None, tolerance)
    for m in matches:
        distances = [m.calculate_shortest_dist(pair) for pair in m.pairs]
        close = [(pair, d) for pair, d in zip(m.pairs, distances) if d < tolerance]
        n = len(close)
        if n == 0:
            continue
        rms = (sum(d * d for _, d in close) / n) ** 0.5
        if n > best.n_matched or (n == best.n_matched and best.rmsd is not None and rms < best.rmsd):
            agree = sum(1 for (i, j), _ in close if ref_elements[i] == sol_elements[j])
            best = ModelComparison(n_ref, n_sol, n, agree, rms, tolerance,
                                   inverted=m.rt.r.determinant() < 0)
    return best


def _emma_model(xs):
    from cctbx import euclidean_model_matching as emma

    positions = [emma.position(f"{i}", sc.site) for i, sc in enumerate(xs.scatterers())]
    return emma.model(xs.crystal_symmetry().special_position_settings(), positions)


def compare_model_files(reference_path: str, solution_path: str, *, tolerance: float = MATCH_TOLERANCE,
                        reference_block: str | None = None, solution_block: str | None = None) -> ModelComparison:
    """``compare_structures`` on two model files (CIF or SHELX); PATH:BLOCK names a CIF block."""
    from xdxd_cctbx.errors import InputError
    from xdxd_cctbx.io.model_files import read_model_file

    structures = []
    for path, block in ((reference_path, reference_block), (solution_path, solution_block)):
        if block is None and ":" in path and not _exists(path):
            path, block = path.rsplit(":", 1)
        model = read_model_file(path, block=block)
        if model.xray_structure is None:
            raise InputError(f"{path} holds no atoms: give a model with atoms")
        structures.append(model.xray_structure)
    ref, sol = structures
    if ref.space_group().type().number() != sol.space_group().type().number():
        raise InputError(f"the models are in different space groups ({ref.space_group_info()} and "
                         f"{sol.space_group_info()}): compare models in the same setting")
    if not ref.unit_cell().is_similar_to(sol.unit_cell(), relative_length_tolerance=0.05, absolute_angle_tolerance=3):
        raise InputError("the models' unit cells differ: compare models of the same crystal")
    return compare_structures(ref, sol, tolerance=tolerance)


def _exists(path: str) -> bool:
    import os

    return os.path.exists(path)
