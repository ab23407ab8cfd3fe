"""Install xdxd_cctbx: the library, its Phenix-style programs and PHIL scopes."""
from setuptools import find_packages, setup

setup(
    name="xdxd_cctbx",
    version="0.1.0",
    description="Small-molecule structure solution from low-resolution X-ray data (cctbx plugin)",
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["xdxd_cctbx", "xdxd_cctbx.*"])
    + ["xdxd_cctbx.command_line", "xdxd_cctbx.phil"],
    package_dir={
        "xdxd_cctbx.command_line": "command_line",
        "xdxd_cctbx.phil": "phil",
    },
    package_data={
        "xdxd_cctbx.sf": ["*.json"],
        "xdxd_cctbx.weights": ["*.json", "*.pt"],
        "xdxd_cctbx.examples": ["*.cif", "*.ins", "*.hkl"],
    },
    install_requires=[
        "cctbx-base>=2024.0",
        "torch>=2.1",
        "numpy",
    ],
    extras_require={
        "test": ["pytest", "matplotlib", "rdkit"],
        "molecule": ["rdkit"],
        "train": ["rdkit"],
        "plots": ["matplotlib"],
    },
    entry_points={
        "console_scripts": [
            "xdxd.solve=xdxd_cctbx.command_line.solve:run",
            "xdxd.simulate=xdxd_cctbx.command_line.simulate:run",
            "xdxd.compare=xdxd_cctbx.command_line.compare:run",
            "xdxd.benchmark=xdxd_cctbx.command_line.benchmark:run",
            "xdxd.build_dataset=xdxd_cctbx.command_line.build_dataset:run",
            "xdxd.train=xdxd_cctbx.command_line.train:run",
        ],
    },
)
