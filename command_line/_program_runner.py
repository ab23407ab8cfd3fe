"""Shared by the console scripts: run a ProgramTemplate, turning errors into one line."""
from __future__ import annotations

import logging
import sys


def run_console_program(program_class, args=None) -> int:
    """Run ``program_class`` with ``args``; user errors print one 'Sorry' line, exit 1."""
    import xdxd_cctbx  # noqa: F401  (import order: before any cctbx module)
    from iotbx.cli_parser import run_program
    from libtbx.utils import Sorry

    from xdxd_cctbx.errors import XdxdError

    _connect_library_logging()
    args = list(sys.argv[1:] if args is None else args)
    missing = _missing_files(args)
    if missing:
        print(f"Sorry: file not found: {missing[0]} (check the path)", file=sys.stderr)
        return 1
    try:
        run_program(program_class=program_class, args=args,
                    custom_process_arguments=getattr(program_class, "custom_process_arguments", None))
    except (Sorry, XdxdError) as e:
        message = " ".join(str(e).split())
        print(f"Sorry: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted", file=sys.stderr)
        return 130
    except SystemExit as e:  # argparse / --help / --show-defaults
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return 0


FILE_EXTENSIONS = (".hkl", ".cif", ".mtz", ".fcf", ".ins", ".res", ".eff", ".phil", ".params")


def _missing_files(args) -> list:
    """Positional arguments that name a data/model file which does not exist."""
    import os

    return [a for a in args if "=" not in a and not a.startswith("-")
            and os.path.splitext(a.split(":")[0])[1].lower() in FILE_EXTENSIONS
            and not os.path.exists(a) and not os.path.exists(a.rsplit(":", 1)[0])]


def _connect_library_logging():
    root = logging.getLogger("xdxd_cctbx")
    if not any(getattr(h, "_xdxd_console", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("  %(message)s"))
        handler._xdxd_console = True
        root.addHandler(handler)
        root.setLevel(logging.INFO)


def route_positional_files(parser, routes: dict) -> None:
    """Put positional files into PHIL paths by extension (custom_process_arguments).

    ``routes``: {extension: phil path}, e.g. {".hkl": "input.reflections"}. A CIF is
    a model unless the reflections are still missing and it holds _refln data.
    """
    import os

    from libtbx.utils import Sorry

    files = list(getattr(parser.namespace, "files", []) or [])
    files += list(getattr(parser.namespace, "unknown", []) or [])
    if not files:
        return
    extract = parser.working_phil.extract()
    for path in files:
        ext = os.path.splitext(path)[1].lower()
        target = routes.get(ext)
        if ext == ".cif" and ".cif" in routes:
            target = routes[".cif"](extract, path) if callable(routes[".cif"]) else routes[".cif"]
        if target is None:
            raise Sorry(f"do not know what to do with {path}: give .hkl/.cif/.mtz reflections and a .ins/.res/.cif model")
        scope_name, name = target.rsplit(".", 1)
        scope = extract
        for part in scope_name.split("."):
            scope = getattr(scope, part)
        if getattr(scope, name) is not None:
            raise Sorry(f"two files for {target}: {getattr(scope, name)} and {path}; give one")
        setattr(scope, name, path)
    parser.namespace.files = []
    parser.working_phil = parser.master_phil.format(python_object=extract)


def cif_is_reflections(path: str) -> bool:
    with open(path, errors="replace") as f:
        head = f.read(200000)
    return "_refln_index_h" in head or "_refln.index_h" in head
