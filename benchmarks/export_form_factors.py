"""Write xdxd_cctbx/sf/form_factors.json from cctbx's default form-factor table.

Run once when cctbx changes:  python benchmarks/export_form_factors.py [path]
"""
import sys

import xdxd_cctbx  # noqa: F401  (import order: boost.python, torch, cctbx)
from xdxd_cctbx.sf.form_factors import DEFAULT_TABLE_PATH, export_form_factor_table

if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_TABLE_PATH
    table = export_form_factor_table(path)
    print(f"wrote {len(table.labels)} form factors to {path}")
