"""Element data for the dataset builder: symbols, van der Waals and covalent radii, atomic volumes."""
from __future__ import annotations

import numpy as np

SYMBOLS = [
    "X", "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si", "P", "S", "Cl", "Ar",
    "K", "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As", "Se", "Br", "Kr",
    "Rb", "Sr", "Y", "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd", "In", "Sn", "Sb", "Te", "I", "Xe",
    "Cs", "Ba", "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu",
    "Hf", "Ta", "W", "Re", "Os", "Ir", "Pt", "Au", "Hg", "Tl", "Pb", "Bi"]
Z_OF = {s: z for z, s in enumerate(SYMBOLS)}
MAX_Z = len(SYMBOLS) - 1

_METALS = {"Li", "Na", "K", "Rb", "Cs", "Be", "Mg", "Ca", "Sr", "Ba", "Al", "Ga", "In", "Tl", "Sn", "Pb",
           "Bi", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Y", "Zr", "Nb", "Mo", "Tc", "Ru",
           "Rh", "Pd", "Ag", "Cd", "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er",
           "Tm", "Yb", "Lu", "Hf", "Ta", "W", "Re", "Os", "Ir", "Pt", "Au", "Hg"}
IS_METAL = np.array([s in _METALS for s in SYMBOLS])

# Van der Waals radii (Bondi 1964; H from Rowland & Taylor 1996; metals: Alvarez 2013, rounded
# down for coordinated metals, which sit inside their ligand shell).
_VDW = {"H": 1.10, "B": 1.92, "C": 1.70, "N": 1.55, "O": 1.52, "F": 1.47, "Na": 2.27, "Mg": 1.73,
        "Si": 2.10, "P": 1.80, "S": 1.80, "Cl": 1.75, "K": 2.75, "Se": 1.90, "Br": 1.85, "I": 1.98,
        "Mn": 2.0, "Fe": 2.0, "Co": 2.0, "Ni": 1.63, "Cu": 1.40, "Zn": 1.39, "Pd": 1.63, "Ag": 1.72,
        "Cd": 1.58, "Pt": 1.75, "Au": 1.66, "Hg": 1.55, "Sn": 2.17, "Ru": 2.0, "Cr": 2.0}
VDW_RADIUS = np.array([_VDW.get(s, 2.0) for s in SYMBOLS])

# Covalent radii (Cordero et al. 2008; Co, Fe, Mn low/high-spin averaged).
_COV = {"H": 0.31, "B": 0.84, "C": 0.76, "N": 0.71, "O": 0.66, "F": 0.57, "Na": 1.66, "Mg": 1.41,
        "Si": 1.11, "P": 1.07, "S": 1.05, "Cl": 1.02, "K": 2.03, "Se": 1.20, "Br": 1.20, "I": 1.39,
        "Cr": 1.39, "Mn": 1.50, "Fe": 1.42, "Co": 1.38, "Ni": 1.24, "Cu": 1.32, "Zn": 1.22, "Ru": 1.46,
        "Pd": 1.39, "Ag": 1.45, "Cd": 1.44, "Pt": 1.36, "Au": 1.36, "Hg": 1.32, "Sn": 1.39}
COVALENT_RADIUS = np.array([_COV.get(s, 1.5) for s in SYMBOLS])

# Approximate mean atomic volumes in organic and metal-organic crystals (A^3), after
# Hofmann (2002, Acta Cryst. B58, 489): V_cell ~ sum of them. Rounded; metals ~ 8-20.
_VOL = {"H": 5.1, "B": 7.5, "C": 13.9, "N": 11.8, "O": 11.4, "F": 11.2, "Na": 9.0, "K": 16.0,
        "Si": 19.0, "P": 24.0, "S": 25.2, "Cl": 25.8, "Se": 28.7, "Br": 31.5, "I": 44.6,
        "Cr": 13.0, "Mn": 13.0, "Fe": 11.2, "Co": 11.5, "Ni": 10.0, "Cu": 11.1, "Zn": 11.5, "Ru": 15.0,
        "Pd": 14.0, "Ag": 16.0, "Cd": 16.0, "Pt": 14.0, "Au": 15.0, "Hg": 16.0, "Sn": 22.0}
ATOMIC_VOLUME = np.array([_VOL.get(s, 15.0) for s in SYMBOLS])


def heavy_mask(z: np.ndarray) -> np.ndarray:
    """Atoms heavier than Cl (Z > 17): metals, Br, I, Se, ..."""
    return np.asarray(z) > 17
