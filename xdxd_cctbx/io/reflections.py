"""Read reflection data: SHELX HKLF 4/3 .hkl, CIF _refln, MTZ."""
from __future__ import annotations

import logging
import math
import os

from xdxd_cctbx.errors import InputError

logger = logging.getLogger(__name__)

REFLECTION_TYPES = ("auto", "hklf4", "hklf3", "amplitudes")


def read_reflections(path: str, crystal_symmetry=None, reflections_type: str = "auto"):
    """Return a cctbx miller array (intensities or amplitudes, with sigmas when given).

    ``crystal_symmetry`` is required for a bare SHELX .hkl, which carries none.
    ``reflections_type``: hklf4 (intensities), hklf3 or amplitudes (|F|); auto picks
    intensities for .hkl and the measured array of a CIF/MTZ.
    """
    if reflections_type not in REFLECTION_TYPES:
        raise InputError(f"unknown reflections_type '{reflections_type}': use one of {', '.join(REFLECTION_TYPES)}")
    if not os.path.isfile(path):
        raise InputError(f"reflection file not found: {path}")
    name = os.path.basename(path)
    ext = os.path.splitext(path)[1].lower()
    if ext == ".hkl" and _looks_like_cif(path):
        ext = ".cif"  # some .hkl files are CIF _refln loops
    if ext == ".hkl":
        array = _read_shelx_hkl(path, crystal_symmetry, reflections_type)
    elif ext in (".cif", ".fcf"):
        array = _read_cif_refln(path, crystal_symmetry)
    elif ext == ".mtz":
        array = _read_mtz(path, crystal_symmetry)
    else:
        raise InputError(f"unsupported reflection file '{name}': give a SHELX .hkl, a CIF with _refln data, or an MTZ")
    if array.size() == 0:
        raise InputError(f"{name} holds no reflections")
    _check_finite(array, name)
    if crystal_symmetry is not None:
        array = _with_symmetry(array, crystal_symmetry, name)
    if reflections_type == "amplitudes" and array.is_xray_intensity_array():
        raise InputError(f"{name} holds intensities but reflections_type=amplitudes: use reflections_type=auto")
    return array


def _looks_like_cif(path: str) -> bool:
    with open(path, errors="replace") as f:
        head = f.read(4000)
    return "_refln_index_h" in head or "_refln.index_h" in head


def _read_shelx_hkl(path, crystal_symmetry, reflections_type):
    from cctbx import crystal
    from iotbx.reflection_file_reader import any_reflection_file

    name = os.path.basename(path)
    if crystal_symmetry is None:
        raise InputError(f"{name} carries no cell or space group: give a model file (.ins/.res/.cif) or unit_cell= and space_group=")
    kind = "amplitudes" if reflections_type in ("hklf3", "amplitudes") else "intensities"
    _check_hkl_lines(path)
    try:
        arrays = any_reflection_file(f"{path}=hklf{3 if kind == 'amplitudes' else 4}").as_miller_arrays(
            crystal_symmetry=crystal.symmetry(
                unit_cell=crystal_symmetry.unit_cell(), space_group_info=crystal_symmetry.space_group_info()))
    except Exception as e:
        raise InputError(f"cannot read {name} as a SHELX HKLF {'3' if kind == 'amplitudes' else '4'} file ({e}): check its format (3I4,2F8.2)")
    if not arrays:
        raise InputError(f"{name} holds no reflections")
    return arrays[0]


def _check_hkl_lines(path):
    """Catch text that is not a SHELX reflection list before cctbx does (its errors are cryptic)."""
    name = os.path.basename(path)
    n_good = 0
    with open(path, errors="replace") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                h, k, l = int(line[0:4]), int(line[4:8]), int(line[8:12])
                values = float(line[12:20]), float(line[20:28])
            except ValueError:
                raise InputError(f"{name} line {number} is not a SHELX reflection (3I4,2F8.2): '{line.rstrip()[:40]}'")
            if not all(math.isfinite(v) for v in values):
                raise InputError(f"{name} contains NaN or infinite values: remove those reflections")
            if h == k == l == 0:
                break
            n_good += 1
    if n_good == 0:
        raise InputError(f"{name} holds no reflections")


def _read_cif_refln(path, crystal_symmetry):
    import iotbx.cif

    name = os.path.basename(path)
    try:
        reader = iotbx.cif.reader(file_path=path)
        arrays = reader.as_miller_arrays(crystal_symmetry=crystal_symmetry)
    except Exception as e:
        raise InputError(f"cannot read reflections from {name}: {e}")
    return _pick_measured(arrays, name)


def _read_mtz(path, crystal_symmetry):
    from iotbx.reflection_file_reader import any_reflection_file

    name = os.path.basename(path)
    try:
        arrays = any_reflection_file(path).as_miller_arrays(crystal_symmetry=crystal_symmetry)
    except Exception as e:
        raise InputError(f"cannot read {name} as MTZ: {e}")
    return _pick_measured(arrays, name)


def _pick_measured(arrays, name):
    """The measured array: intensities with sigmas first, then amplitudes with sigmas."""
    def label(a):
        return ",".join(a.info().labels if a.info() is not None else [])

    real = [a for a in arrays if a.is_real_array() and not any("calc" in l.lower() for l in (a.info().labels if a.info() else []))]
    for test in (
        lambda a: a.is_xray_intensity_array() and a.sigmas() is not None,
        lambda a: a.is_xray_amplitude_array() and a.sigmas() is not None,
        lambda a: a.is_xray_intensity_array(),
        lambda a: a.is_xray_amplitude_array(),
    ):
        chosen = [a for a in real if test(a)]
        if chosen:
            meas = [a for a in chosen if "meas" in label(a).lower()]
            picked = (meas or chosen)[0]
            logger.info("reflections from %s: %s", name, label(picked))
            return picked
    raise InputError(f"{name} holds no measured intensities or amplitudes (labels: {'; '.join(label(a) for a in arrays)})")


def _check_finite(array, name):
    values = list(array.data())
    if array.sigmas() is not None:
        values += list(array.sigmas())
    if any(not math.isfinite(v) for v in values):
        raise InputError(f"{name} contains NaN or infinite values: remove those reflections")


def _with_symmetry(array, crystal_symmetry, name):
    """Check the file's own symmetry (if any) agrees with the model's, then use the model's."""
    own = array.crystal_symmetry()
    if own is not None and own.unit_cell() is not None and own.space_group() is not None:
        if not own.is_similar_symmetry(crystal_symmetry, relative_length_tolerance=0.02, absolute_angle_tolerance=2.0):
            raise InputError(
                f"the symmetry of {name} ({own.space_group_info()}, {_cell(own)}) disagrees with the model's "
                f"({crystal_symmetry.space_group_info()}, {_cell(crystal_symmetry)}): give matching files")
    if own is not None and own.space_group() is not None and crystal_symmetry.space_group() is not None:
        if own.space_group().point_group_type() != crystal_symmetry.space_group().point_group_type():
            raise InputError(
                f"the point group of {name} ({own.space_group_info()}) differs from the model's ({crystal_symmetry.space_group_info()}): give matching files")
    from cctbx import crystal

    cs = crystal.symmetry(unit_cell=crystal_symmetry.unit_cell(), space_group_info=crystal_symmetry.space_group_info())
    return array.customized_copy(crystal_symmetry=cs)


def _cell(cs):
    return "cell " + " ".join(f"{p:.3f}" for p in cs.unit_cell().parameters())
