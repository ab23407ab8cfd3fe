"""Print the example's reflection and instruction file paths (for xdxd.solve)."""
from xdxd_cctbx.examples import example_paths

paths = example_paths()
print(paths["hkl"], paths["ins"])
