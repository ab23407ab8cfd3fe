"""Writers for the solved model: coreCIF, SHELX .res, and atomic file writes.

``write_cif`` and ``write_res`` build the whole text first and then write it
with ``write_atomically`` (temporary file in the same folder, then
``os.replace``), so a failure never leaves a partial output behind.
"""
from __future__ import annotations

import logging
import math
import os
import re
import uuid
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from xdxd_cctbx.errors import InputError, XdxdError

logger = logging.getLogger(__name__)

# SHELX instructions an atom name must not look like (first four letters).
_SHELX_KEYWORDS = frozenset("""
ABIN ACTA AFIX ANIS ANSC ANSR BASF BIND BLOC BOND BUMP CELL CGLS CHIV CONF CONN
DAMP DANG DEFS DELU DFIX DISP EADP EGEN END EQIV ESEL EXTI EXYZ FEND FLAT FMAP
FRAG FREE FVAR GRID HFIX HKLF HTAB ISOR LATT LAUE LIST L.S. MERG MORE MOVE MPLA
NCSY NEUT OMIT PART PLAN PRIG REM RESI RIGU RTAB SADI SAME SFAC SHEL SIMU SIZE
SPEC STIR SUMP SWAT SYMM TEMP TITL TWIN TWST UNIT WGHT WIGL WPDB XNPD ZERR
""".split())
_LABEL_OK = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,3}$")
_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


# ----------------------------------------------------------------------------
# atomic writes

def write_atomically(path: Union[str, os.PathLike], text: Union[str, bytes]) -> str:
    """Write ``text`` to ``path`` via a temporary file and ``os.replace``.

    Readers see either the old file or the complete new one. Returns the path.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(f"cannot write {path}: folder {folder} does not exist")
    if os.path.isdir(path):
        raise InputError(f"cannot write {path}: it is a folder")
    if isinstance(text, str):
        data = text.encode("utf-8")
    elif isinstance(text, (bytes, bytearray)):
        data = bytes(text)
    else:
        raise TypeError(f"write_atomically: text must be str or bytes, not {type(text).__name__}")
    tmp = os.path.join(
        folder, f".{os.path.basename(path)}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            try:
                os.remove(tmp)
            except OSError:
                pass
        raise XdxdError(f"cannot write {path}: {exc}") from exc
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


# ----------------------------------------------------------------------------
# helpers

def _element(scattering_type: str) -> str:
    letters = "".join(ch for ch in scattering_type if ch.isalpha())
    return letters[:1].upper() + letters[1:2].lower() if letters else scattering_type


def _fmt_number(value: float, decimals: int = 6, min_decimals: int = 1) -> str:
    """Fixed-point without trailing zeros: 7.7830000 -> '7.783', 90 -> '90.0'."""
    text = f"{value:.{decimals}f}"
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0")
    if len(frac) < min_decimals:
        frac = frac + "0" * (min_decimals - len(frac))
    return f"{whole}.{frac}" if frac else whole


def _fmt_with_su(value: float, su: Optional[float]) -> str:
    if su is None or not su > 0:
        return _fmt_number(value, 6, 3)
    from libtbx.utils import format_float_with_standard_uncertainty

    return format_float_with_standard_uncertainty(value, su)


def _number_suffix(n: int, width: int) -> str:
    text = str(n)
    if len(text) <= width:
        return text
    digits = ""
    while n:
        n, r = divmod(n, 36)
        digits = _B36[r] + digits
    if len(digits) > width:
        raise XdxdError("too many atoms of one element for 4-character SHELX labels")
    return digits


def shelx_labels(xray_structure) -> List[str]:
    """Unique labels of at most 4 characters, one per scatterer.

    A label is kept when it is valid, unique and not a SHELX keyword; others
    become element + number (C1, C2, ...), skipping names already in use.
    """
    scatterers = xray_structure.scatterers()
    labels: List[Optional[str]] = []
    used = set()
    for sc in scatterers:
        label = sc.label.strip()
        ok = (_LABEL_OK.match(label) is not None and label.upper() not in used
              and label.upper()[:4] not in _SHELX_KEYWORDS)
        labels.append(label if ok else None)
        if ok:
            used.add(label.upper())
    counters: Dict[str, int] = {}
    for i, sc in enumerate(scatterers):
        if labels[i] is not None:
            continue
        el = _element(sc.scattering_type)
        while True:
            counters[el] = counters.get(el, 0) + 1
            name = el + _number_suffix(counters[el], 4 - len(el))
            if name.upper() not in used and name.upper()[:4] not in _SHELX_KEYWORDS:
                break
        used.add(name.upper())
        labels[i] = name
    renamed = sum(a != b.label.strip() for a, b in zip(labels, scatterers))
    if renamed:
        logger.info("SHELX labels: %d atoms renamed to fit 4 unique characters", renamed)
    return labels  # type: ignore[return-value]


def _unit_cell_content(xray_structure, unit_cell_content: Optional[Mapping[str, float]]):
    """Ordered (element, integer count) for SFAC/UNIT: C, H first, then by Z."""
    from cctbx.eltbx import tiny_pse

    model: Dict[str, float] = {}
    for el, n in xray_structure.unit_cell_content().items():
        model[_element(el)] = model.get(_element(el), 0.0) + n
    counts: Dict[str, float] = {}
    for el, n in (unit_cell_content or {}).items():
        counts[_element(el)] = counts.get(_element(el), 0.0) + float(n)
    for el, n in model.items():
        if el not in counts:
            if unit_cell_content:
                logger.warning("UNIT: %s missing from the given cell content: using "
                               "the model's %.1f", el, n)
            counts[el] = n

    def z_of(el: str) -> int:
        try:
            return tiny_pse.table(el).atomic_number()
        except RuntimeError:
            return 999

    order = [el for el in ("C", "H") if el in counts]
    order += sorted((el for el in counts if el not in ("C", "H")), key=lambda e: (z_of(e), e))
    result = []
    for el in order:
        n = counts[el]
        if abs(n - round(n)) > 0.05:
            logger.warning("UNIT: %s count %.2f per cell rounded to %d", el, n, round(n))
        result.append((el, max(1, int(round(n)))))
    return result


# ----------------------------------------------------------------------------
# SHELX .res

def _riding_blocks(xray_structure, riding) -> Dict[int, Any]:
    """pivot i_seq -> riding group (duck-typed: pivot, hydrogens, afix, u_multiplier)."""
    if riding is None:
        return {}
    n = xray_structure.scatterers().size()
    blocks = {}
    for g in getattr(riding, "groups", riding):
        if not (0 <= g.pivot < n and all(0 <= h < n for h in g.hydrogens)):
            raise InputError("riding hydrogens: atom index out of range for this structure")
        blocks[g.pivot] = g
    return blocks


def format_res(xray_structure, *, title: str, wavelength: float = 0.71073,
               refinement=None, unit_cell_content: Optional[Mapping[str, float]] = None,
               labels: Optional[Sequence[str]] = None, riding=None) -> str:
    """The text of a SHELX .res file (see ``write_res``).

    riding: riding H groups (``refine.hydrogens.HydrogenPlacement``; default
    ``refinement.hydrogens``): each group's H atoms are written right after
    their parent in an AFIX mn ... AFIX 0 block with U = -1.2 or -1.5.
    """
    from cctbx import adptbx

    xs = xray_structure
    sgi = xs.space_group_info()
    group = xs.space_group()
    uc = xs.unit_cell()
    title = " ".join(str(title).split()) or "xdxd"
    lines = [f"TITL {title} in {sgi.type().lookup_symbol()}"[:80]]
    a, b, c, al, be, ga = uc.parameters()
    lines.append(f"CELL {wavelength:.5f} {a:.5f} {b:.5f} {c:.5f} {al:.4f} {be:.4f} {ga:.4f}")
    lines.append(f"ZERR {group.order_z()} 0 0 0 0 0 0")
    centring = group.conventional_centring_type_symbol()
    latt = 1 + "PIRFABC".find(centring)
    if latt < 1:
        raise InputError(f"space group {sgi}: centring {centring!r} cannot be written as LATT")
    origin_centric = group.is_origin_centric()
    if not origin_centric:
        latt = -latt
    lines.append(f"LATT {latt}")
    n_inv = 1 if origin_centric else group.f_inv()
    for i_inv in range(n_inv):
        for i_smx in range(group.n_smx()):
            rt_mx = group(0, i_inv, i_smx)
            if rt_mx.is_unit_mx():
                continue
            lines.append("SYMM " + rt_mx.as_xyz(False, True, "XYZ", ", "))
    content = _unit_cell_content(xs, unit_cell_content)
    sfac_index = {el: i + 1 for i, (el, _) in enumerate(content)}
    lines.append("SFAC " + " ".join(el for el, _ in content))
    lines.append("UNIT " + " ".join(str(n) for _, n in content))
    lines.append("L.S. 10")
    lines.append("PLAN 20")
    lines.append("FMAP 2")
    osf = 1.0
    if refinement is not None:
        lines.append(f"REM R1 = {refinement.r1_gt:.4f} for {refinement.n_reflections_gt} "
                     f"Fo > 4sig(Fo) and {refinement.r1_all:.4f} for all "
                     f"{refinement.n_reflections} data")
        lines.append(f"REM wR2 = {refinement.wr2:.4f}, GooF = S = {refinement.goof:.3f}, "
                     f"Restrained GooF = {refinement.restrained_goof:.3f} for all data")
        lines.append(f"REM {refinement.n_parameters} parameters, "
                     f"{refinement.n_restraints} restraints, d_min {refinement.d_min:.2f} A")
        lines.append(f"WGHT {refinement.weighting_a:.6f} {refinement.weighting_b:.6f}")
        if refinement.scale_factor and refinement.scale_factor > 0:
            osf = math.sqrt(refinement.scale_factor)
    lines.append(f"FVAR {osf:.5f}")
    if labels is None:
        labels = shelx_labels(xs)
    elif len(labels) != xs.scatterers().size():
        raise InputError("labels: one per scatterer is needed")
    if riding is None and refinement is not None:
        riding = getattr(refinement, "hydrogens", None)
    blocks = _riding_blocks(xs, riding)
    riding_h = {h for g in blocks.values() for h in g.hydrogens}
    scatterers = xs.scatterers()

    def atom_lines(i_seq: int, u_riding: Optional[float] = None) -> List[str]:
        sc = scatterers[i_seq]
        el = _element(sc.scattering_type)
        if el not in sfac_index:
            raise InputError(f"atom {sc.label}: element {el} missing from unit_cell_content")
        x, y, z = sc.site
        sof = 10.0 + sc.weight()
        head = f"{labels[i_seq]:<4s} {sfac_index[el]:3d} {x:11.6f} {y:11.6f} {z:11.6f} {sof:11.5f}"
        if u_riding is not None:
            return [f"{head} {-u_riding:10.5f}"]
        if sc.flags.use_u_aniso():
            u11, u22, u33, u12, u13, u23 = adptbx.u_star_as_u_cif(uc, sc.u_star)
            return [f"{head} {u11:10.5f} {u22:10.5f} =",
                    f"    {u33:10.5f} {u23:10.5f} {u13:10.5f} {u12:10.5f}"]
        return [f"{head} {max(sc.u_iso, 0.0):10.5f}"]

    for i_seq in range(scatterers.size()):
        if i_seq in riding_h:
            continue
        lines.extend(atom_lines(i_seq))
        group = blocks.get(i_seq)
        if group is not None:
            lines.append(f"AFIX {group.afix}")
            for h in group.hydrogens:
                lines.extend(atom_lines(h, u_riding=group.u_multiplier))
            lines.append("AFIX 0")
    lines.append("HKLF 4")
    lines.append("END")
    return "\n".join(lines) + "\n"


def write_res(path, xray_structure, *, title: str, wavelength: float = 0.71073,
              refinement=None, unit_cell_content: Optional[Mapping[str, float]] = None,
              riding=None) -> List[str]:
    """Write a SHELX .res (readable by SHELXL, Olex2, ShelXle and cctbx).

    unit_cell_content: element -> atoms per cell for SFAC/UNIT (e.g. with H
    that the model lacks); default the model's own content. Labels longer
    than 4 characters or clashing are renamed. Riding H (``riding``, default
    ``refinement.hydrogens``) follow their parents in AFIX blocks. Returns the
    labels written, in scatterer order.
    """
    labels = shelx_labels(xray_structure)
    text = format_res(xray_structure, title=title, wavelength=wavelength,
                      refinement=refinement, unit_cell_content=unit_cell_content,
                      labels=labels, riding=riding)
    write_atomically(path, text)
    return labels


# ----------------------------------------------------------------------------
# CIF

_CELL_ITEMS = ("_cell_length_a", "_cell_length_b", "_cell_length_c",
               "_cell_angle_alpha", "_cell_angle_beta", "_cell_angle_gamma")


def _covariance_for(xray_structure, refinement):
    if refinement is None or getattr(refinement, "covariance_matrix", None) is None:
        return None
    cov = refinement.covariance_matrix
    n = xray_structure.parameter_map().n_parameters
    if n == 0 or cov.size() != n * (n + 1) // 2:
        logger.warning("CIF: covariance matrix does not match the structure's refined "
                       "parameters: writing without s.u.")
        return None
    return cov


def _cif_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return _fmt_number(value, 6, 1)
    return str(value)


def _data_block_name(metadata: Mapping[str, Any]) -> str:
    name = str(metadata.get("block_name") or metadata.get("title") or "xdxd")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")
    return name or "xdxd"


def cif_block(xray_structure, *, refinement=None,
              metadata: Optional[Mapping[str, Any]] = None):
    """An iotbx.cif block for the model (see ``write_cif``)."""
    import xdxd_cctbx

    metadata = dict(metadata or {})
    covariance = _covariance_for(xray_structure, refinement)
    xs = xray_structure.deep_copy_scatterers()
    for sc, label in zip(xs.scatterers(), shelx_labels(xray_structure)):
        sc.label = label  # unique, and the same as in the .res
    block = xs.as_cif_block(covariance_matrix=covariance, format="coreCIF")
    cell_su = metadata.get("cell_esds")
    for k, (item, value) in enumerate(zip(_CELL_ITEMS, xs.unit_cell().parameters())):
        su = cell_su[k] if cell_su else None
        block[item] = _fmt_with_su(value, su) if su else _fmt_number(value, 6, 1)
    block["_cell_volume"] = _fmt_number(xs.unit_cell().volume(), 3, 1)
    block["_cell_formula_units_Z"] = str(metadata.get("z", xs.space_group().order_z()))
    block["_atom_sites_solution_primary"] = "other"
    if "formula_sum" in metadata:
        block["_chemical_formula_sum"] = str(metadata["formula_sum"])
    method = metadata.get("method", "unknown")
    solution = f"xdxd_cctbx {xdxd_cctbx.__version__} method={method}"
    if metadata.get("weights_name"):
        solution += f" weights={metadata['weights_name']}"
    if metadata.get("weights_sha256"):
        solution += f" sha256={metadata['weights_sha256']}"
    block["_computing_structure_solution"] = solution
    wavelength = metadata.get("wavelength")
    if wavelength:
        block["_diffrn_radiation_wavelength"] = _fmt_number(float(wavelength), 5, 4)
    d_min = metadata.get("d_min", getattr(refinement, "d_min", None))
    if d_min:
        block["_reflns_d_resolution_high"] = _fmt_number(float(d_min), 3, 2)
        block["_refine_ls_d_res_high"] = _fmt_number(float(d_min), 3, 2)
        if wavelength and float(wavelength) < 2 * float(d_min):
            theta = math.degrees(math.asin(float(wavelength) / (2 * float(d_min))))
            block["_diffrn_reflns_theta_max"] = _fmt_number(theta, 2, 2)
    if refinement is not None:
        _add_refinement_items(block, refinement)
    for key, value in metadata.items():
        if key.startswith("_"):
            block[key] = _cif_value(value)
    return block


def _add_refinement_items(block, r) -> None:
    import xdxd_cctbx

    block["_computing_structure_refinement"] = (
        f"smtbx least squares (cctbx) via xdxd_cctbx {xdxd_cctbx.__version__}")
    block["_refine_ls_structure_factor_coef"] = "Fsqd"
    block["_refine_ls_matrix_type"] = "full"
    block["_refine_ls_weighting_scheme"] = "calc"
    block["_refine_ls_weighting_details"] = (
        f"w=1/[\\s^2^(Fo^2^)+({r.weighting_a:.4f}P)^2^+{r.weighting_b:.4f}P] "
        "where P=(Fo^2^+2Fc^2^)/3")
    block["_refine_ls_hydrogen_treatment"] = "undef"
    block["_reflns_threshold_expression"] = "I>2\\s(I)"
    block["_reflns_number_total"] = str(r.n_reflections)
    block["_reflns_number_gt"] = str(r.n_reflections_gt)
    block["_refine_ls_number_reflns"] = str(r.n_reflections)
    block["_refine_ls_number_parameters"] = str(r.n_parameters)
    block["_refine_ls_number_restraints"] = str(r.n_restraints)
    block["_refine_ls_R_factor_all"] = f"{r.r1_all:.4f}"
    block["_refine_ls_R_factor_gt"] = f"{r.r1_gt:.4f}"
    block["_refine_ls_wR_factor_ref"] = f"{r.wr2:.4f}"
    block["_refine_ls_goodness_of_fit_ref"] = f"{r.goof:.3f}"
    block["_refine_ls_restrained_S_all"] = f"{r.restrained_goof:.3f}"


def write_cif(path, xray_structure, *, refinement=None,
              metadata: Optional[Mapping[str, Any]] = None) -> str:
    """Write a coreCIF file of the model, readable by iotbx.cif.

    refinement: a RefinementResult (figures of merit; s.u. when its covariance
    matches ``xray_structure``'s refined parameters, e.g. its own
    ``refinement.xray_structure``). metadata keys: method, d_min, wavelength,
    weights_name, weights_sha256, formula_sum, z, cell_esds (6 s.u.),
    block_name or title; keys starting with '_' are written as CIF items.
    """
    import iotbx.cif.model

    metadata = dict(metadata or {})
    block = cif_block(xray_structure, refinement=refinement, metadata=metadata)
    cif = iotbx.cif.model.cif()
    cif[_data_block_name(metadata)] = block
    text = str(cif)
    write_atomically(path, text)
    return path
