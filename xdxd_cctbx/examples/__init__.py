"""Example data the package ships: a molecular crystal built and simulated by this project.

``python -m xdxd_cctbx.examples`` prints the reflection and instruction files, so that
``xdxd.solve $(python -m xdxd_cctbx.examples)`` runs the example.
"""
import os

FOLDER = os.path.dirname(os.path.abspath(__file__))


def example_paths() -> dict:
    """{'hkl': ..., 'ins': ..., 'reference': ...} of the shipped example (paracetamol, P2_1/c, 0.9 A)."""
    return {
        "hkl": os.path.join(FOLDER, "example.hkl"),
        "ins": os.path.join(FOLDER, "example.ins"),
        "reference": os.path.join(FOLDER, "example_reference.cif"),
    }
