"""Build installable Furrow extension zips, one per platform, with the backend's wheels.

Run through ``scripts/build_extension`` (it makes sure ``.venv`` exists). Steps:

1. validate the committed manifest with Blender's own extension CLI (from the bpy wheel);
2. download the runtime wheels, unmodified, per platform into ``wheels/<platform>/``
   (a cache: a wheel already there is reused without asking the index);
3. stage the extension source plus that platform's wheels in ``build/extension/furrow``
   with a generated manifest (``wheels`` + ``platforms``): the committed manifest
   stays untouched so git stays clean;
4. validate the staged manifest and build ``<out>/furrow-<version>-<platform>.zip``
   with Blender's builder.

Why not one plain ``pip download -r runtime.txt --platform X``: pip evaluates
environment markers against the machine it runs on, not the target platform, so
from Linux the Windows torch wheel's ``nvidia-*; platform_system == "Linux"``
dependencies are demanded for Windows and the download fails. Instead this script
walks the dependency tree itself with the target platform's markers (every
version pinned by ``requirements/``) and asks pip for each wheel with ``--no-deps``.

numpy is never bundled: Blender ships its own numpy 1.26 and a second copy would
shadow or clash with it.
"""

from __future__ import annotations

import argparse
import contextlib
import email.parser
import importlib.util
import os
import platform as host_platform
import re
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from packaging import tags as wheel_tags
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import InvalidWheelFilename, NormalizedName, canonicalize_name, parse_wheel_filename
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements"
WHEEL_CACHE = ROOT / "wheels"
STAGE = ROOT / "build" / "extension" / "furrow"
LOG = ROOT / ".cache" / "build_extension-pip.log"
MANIFEST = "blender_manifest.toml"
# Files setup builds from pinned packages (git-ignored) that the extension needs at run time.
GENERATED = (ROOT / "furrow" / "data" / "default_head.npz",)

# Blender ships these with its Python: bundling them would shadow Blender's own.
NEVER_BUNDLE: frozenset[str] = frozenset({"numpy"})

PYTHON = (3, 11)  # Blender 4.2 - 5.0
PYTHON_FULL = "3.11.7"  # Blender 4.2's; only markers on the full version read it

# Wheel platform tags pip may use per Blender platform, most preferred first.
# Linux: Blender 4.2+ needs glibc 2.28, so any manylinux up to 2_28 works.
# macOS: oldest first, so a wheel that also runs on older macOS wins a tie.
_LINUX = [f"manylinux_2_{minor}_x86_64" for minor in range(28, 4, -1)]
_LINUX += ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]
_MAC_ARM = [f"macosx_{major}_0_arm64" for major in (11, 12, 13, 14)]
_MAC_ARM += [p for p in wheel_tags.mac_platforms((14, 0), "arm64") if p.endswith("universal2")]
_MAC_X64 = list(reversed(list(wheel_tags.mac_platforms((11, 0), "x86_64"))))
WHEEL_PLATFORMS: dict[str, list[str]] = {
    "linux-x64": _LINUX,
    "windows-x64": ["win_amd64"],
    "macos-arm64": _MAC_ARM,
    "macos-x64": _MAC_X64,
}
ALL_PLATFORMS = ("linux-x64", "windows-x64", "macos-arm64")

# PyPI's Linux torch is the CUDA build (~540 MB plus gigabytes of nvidia-* wheels it
# depends on); the CPU build (~190 MB, no such dependencies) is published by the
# PyTorch project outside PyPI. It sorts above the plain version (2.13.0+cpu >
# 2.13.0), so pip picks it wherever a find-links folder holds it (this project's
# machines have one) or when it is put into wheels/linux-x64/ by hand.
CPU_TORCH_PLATFORMS = frozenset({"linux-x64"})

# Environment-marker values of each target (PEP 508), so dependencies are chosen
# for the platform the wheel runs on, not for this machine.
_COMMON_MARKERS = {
    "implementation_name": "cpython",
    "implementation_version": PYTHON_FULL,
    "platform_python_implementation": "CPython",
    "python_version": "{}.{}".format(*PYTHON),
    "python_full_version": PYTHON_FULL,
    "platform_release": "",
    "platform_version": "",
}
MARKERS: dict[str, dict[str, str]] = {
    "linux-x64": {
        "os_name": "posix",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
    },
    "windows-x64": {
        "os_name": "nt",
        "sys_platform": "win32",
        "platform_system": "Windows",
        "platform_machine": "AMD64",
    },
    "macos-arm64": {
        "os_name": "posix",
        "sys_platform": "darwin",
        "platform_system": "Darwin",
        "platform_machine": "arm64",
    },
    "macos-x64": {
        "os_name": "posix",
        "sys_platform": "darwin",
        "platform_system": "Darwin",
        "platform_machine": "x86_64",
    },
}


class BuildError(Exception):
    """A failure to report as one line (details go to a log file)."""


def say(message: str) -> None:
    print(f"build_extension: {message}", flush=True)


def die(message: str) -> NoReturn:
    print(f"build_extension: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def this_platform() -> str:
    """Blender's name for the machine this runs on (as Blender's own CLI computes it)."""
    system = {"darwin": "macos", "win32": "windows"}.get(sys.platform, sys.platform)
    if system.startswith("linux"):
        system = "linux"
    machine = host_platform.machine().lower()
    machine = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64"}.get(machine, machine)
    return f"{system}-{machine}"


# --- Blender's extension CLI -------------------------------------------------------


@dataclass(frozen=True)
class BlenderCli:
    """Blender's ``blender_ext.py`` and the tag list, both from the installed bpy wheel."""

    script: Path
    valid_tags: Path

    @classmethod
    def locate(cls) -> BlenderCli:
        spec = importlib.util.find_spec("bpy")  # finds the package without loading Blender
        if spec is None or not spec.submodule_search_locations:
            raise BuildError("bpy is not installed in this Python; run ./scripts/setup")
        bpy_dir = Path(next(iter(spec.submodule_search_locations)))
        for version_dir in sorted(bpy_dir.glob("[0-9]*.[0-9]*"), reverse=True):
            script = version_dir / "scripts/addons_core/bl_pkg/cli/blender_ext.py"
            tags = version_dir / "scripts/modules/_bpy_internal/extensions/tags.py"
            if script.is_file() and tags.is_file():
                return cls(script, tags)
        raise BuildError(f"Blender's extension CLI (blender_ext.py) is missing under {bpy_dir}")

    def run(self, *args: str) -> str:
        """Run a subcommand; raise with Blender's own message on failure."""
        proc = subprocess.run(
            [sys.executable, str(self.script), *args],
            capture_output=True,
            text=True,
            check=False,
        )
        out = (proc.stdout + proc.stderr).strip()
        if proc.returncode != 0:
            lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
            first = next((i for i, ln in enumerate(lines) if "ERROR" in ln), max(len(lines) - 2, 0))
            detail = " ".join(lines[first : first + 2])  # a tag error lists the valid tags on line 2
            raise BuildError(f"blender_ext {args[0]} failed: {detail or f'exit code {proc.returncode}'}")
        return out

    def validate(self, source: Path) -> None:
        self.run("validate", "--valid-tags", str(self.valid_tags), str(source))

    def build(self, source: Path, out_dir: Path) -> None:
        self.run(
            "build",
            "--source-dir",
            str(source),
            "--output-dir",
            str(out_dir),
            "--valid-tags",
            str(self.valid_tags),
            "--split-platforms",
        )


# --- requirements --------------------------------------------------------------------


def read_requirements(path: Path) -> list[Requirement]:
    """Requirement lines of a pip requirements file (comments and options skipped)."""
    reqs = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        try:
            reqs.append(Requirement(line))
        except InvalidRequirement as exc:
            raise BuildError(f"{path.relative_to(ROOT)}: cannot read {line!r}: {exc}") from exc
    return reqs


def read_pins(paths: list[Path]) -> dict[NormalizedName, SpecifierSet]:
    """name -> its ``==`` pin from the requirement and constraint files."""
    pins: dict[NormalizedName, SpecifierSet] = {}
    for path in paths:
        for req in read_requirements(path):
            if any(spec.operator == "==" for spec in req.specifier):
                pins[canonicalize_name(req.name)] = req.specifier
    return pins


def wheel_requires(path: Path) -> list[Requirement]:
    """The ``Requires-Dist`` entries of a wheel's METADATA."""
    with zipfile.ZipFile(path) as zf:
        names = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        if not names:
            raise BuildError(f"{path.name} has no METADATA: delete it and run again")
        meta = email.parser.HeaderParser().parsestr(zf.read(names[0]).decode("utf-8", "replace"))
    return [Requirement(r) for r in meta.get_all("Requires-Dist") or []]


# --- resolving and downloading one platform -------------------------------------------


@dataclass
class Wanted:
    """What the tree so far asks of one package."""

    specifier: SpecifierSet = field(default_factory=SpecifierSet)
    extras: set[str] = field(default_factory=set)
    follow: bool = True  # False: bundled with --no-deps
    wanted_by: str = "requirements/runtime.txt"


@dataclass(frozen=True)
class CachedWheel:
    path: Path
    name: NormalizedName
    version: Version
    rank: int  # index of its best tag in the platform's preference list


class PlatformWheels:
    """The wheel set of one Blender platform, downloaded into ``wheels/<platform>/``."""

    def __init__(self, platform: str, pins: dict[NormalizedName, SpecifierSet]) -> None:
        self.platform = platform
        self.dir = WHEEL_CACHE / platform
        self.pins = pins
        self.wheel_platforms = WHEEL_PLATFORMS[platform]
        self.env = {**_COMMON_MARKERS, **MARKERS[platform]}
        supported = list(
            wheel_tags.cpython_tags(
                PYTHON, abis=[f"cp{PYTHON[0]}{PYTHON[1]}"], platforms=self.wheel_platforms
            )
        )
        supported += list(
            wheel_tags.compatible_tags(PYTHON, f"cp{PYTHON[0]}{PYTHON[1]}", self.wheel_platforms)
        )
        self.tag_rank = {tag: i for i, tag in enumerate(supported)}
        self.wanted: dict[NormalizedName, Wanted] = {}
        self.chosen: dict[NormalizedName, CachedWheel] = {}
        self.followed: dict[NormalizedName, frozenset[str]] = {}
        self.downloads = 0

    def _scan(self) -> dict[NormalizedName, list[CachedWheel]]:
        found: dict[NormalizedName, list[CachedWheel]] = {}
        for path in self.dir.glob("*.whl"):
            try:
                name, version, _build, file_tags = parse_wheel_filename(path.name)
            except InvalidWheelFilename:
                continue
            ranks = [self.tag_rank[t] for t in file_tags if t in self.tag_rank]
            if ranks:
                found.setdefault(name, []).append(CachedWheel(path, name, version, min(ranks)))
        return found

    def _want(self, req: Requirement, *, follow: bool, parent: str) -> None:
        name = canonicalize_name(req.name)
        if name in NEVER_BUNDLE:
            return
        entry = self.wanted.setdefault(name, Wanted(follow=follow, wanted_by=parent))
        entry.specifier &= req.specifier
        entry.extras |= set(req.extras)
        entry.follow = entry.follow and follow

    def _target(self, name: NormalizedName) -> SpecifierSet:
        entry = self.wanted[name]
        pin = self.pins.get(name)
        if pin is None:
            return entry.specifier
        version = Version(next(s.version for s in pin if s.operator == "=="))
        if not entry.specifier.contains(version, prereleases=True):
            raise BuildError(
                f"{entry.wanted_by} needs {name}{entry.specifier} but the requirements pin {name}{pin}; "
                "change the pin in requirements/"
            )
        return pin

    def _marker_ok(self, req: Requirement, extras: frozenset[str]) -> bool:
        if req.marker is None:
            return True
        return any(req.marker.evaluate({**self.env, "extra": e}) for e in ("", *sorted(extras)))

    def resolve(self, top: list[Requirement], no_deps: list[Requirement]) -> list[Path]:
        """Choose (and download where missing) every wheel this platform needs."""
        self.dir.mkdir(parents=True, exist_ok=True)
        for req in top:
            if self._marker_ok(req, frozenset()):
                self._want(req, follow=True, parent="requirements/runtime.txt")
        for req in no_deps:
            if self._marker_ok(req, frozenset()):
                self._want(req, follow=False, parent="requirements/no-deps.txt")
        while True:
            self._choose()
            self._check_torch()  # before following its dependencies
            progressed = False
            for name, wheel in list(self.chosen.items()):
                entry = self.wanted[name]
                extras = frozenset(entry.extras)
                if not entry.follow or self.followed.get(name) == extras:
                    continue
                self.followed[name] = extras
                progressed = True
                for req in wheel_requires(wheel.path):
                    if self._marker_ok(req, extras):
                        self._want(req, follow=True, parent=f"{name} {wheel.version}")
            if not progressed and set(self.chosen) == set(self.wanted):
                break
        self._prune()
        unpinned = sorted(f"{n} {w.version}" for n, w in self.chosen.items() if n not in self.pins)
        if unpinned:
            say(f"{self.platform}: not pinned in requirements/ (cached copy kept): {', '.join(unpinned)}")
        return sorted(w.path for w in self.chosen.values())

    def _check_torch(self) -> None:
        """Refuse the CUDA torch on Linux: it drags gigabytes of nvidia-* wheels into the zip."""
        torch = self.chosen.get(canonicalize_name("torch"))
        if torch is None or self.platform not in CPU_TORCH_PLATFORMS or torch.version.local == "cpu":
            return
        torch.path.unlink()
        raise BuildError(
            f"only the CUDA build of torch {torch.version} is available for {self.platform}; "
            f"put the CPU build (torch-{torch.version}+cpu-cp311-cp311-manylinux_2_28_x86_64.whl) "
            f"into {rel(self.dir)}/ or a pip find-links folder, then run again"
        )

    def _choose(self) -> None:
        """Pick a cached wheel for every wanted package; download the missing ones in one pip call."""
        missing: list[NormalizedName] = []
        cached = self._scan()
        for name in self.wanted:
            target = self._target(name)
            fits = [w for w in cached.get(name, []) if target.contains(w.version, prereleases=True)]
            if fits:
                # Highest version (torch 2.13.0+cpu sorts above 2.13.0), then the preferred tag.
                self.chosen[name] = max(fits, key=lambda w: (w.version, -w.rank))
            else:
                self.chosen.pop(name, None)
                missing.append(name)
        if not missing:
            return
        self._download([f"{name}{self._target(name)}" for name in missing])
        cached = self._scan()
        for name in missing:
            target = self._target(name)
            fits = [w for w in cached.get(name, []) if target.contains(w.version, prereleases=True)]
            if not fits:
                raise BuildError(
                    f"pip gave no {self.platform} wheel for {name}{target} (log: {rel(LOG)}); "
                    "check that this version has a wheel for that platform"
                )
            self.chosen[name] = max(fits, key=lambda w: (w.version, -w.rank))

    def _download(self, specs: list[str]) -> None:
        """One ``pip download --no-deps`` for every missing wheel of this platform."""
        say(f"{self.platform}: downloading {len(specs)} wheel(s): {' '.join(specs)}")
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--disable-pip-version-check",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            "{}.{}".format(*PYTHON),
            "--implementation",
            "cp",
            "--abi",
            f"cp{PYTHON[0]}{PYTHON[1]}",
            *[arg for plat in self.wheel_platforms for arg in ("--platform", plat)],
            "-d",
            str(self.dir),
            *specs,
        ]
        LOG.parent.mkdir(parents=True, exist_ok=True)
        with open(LOG, "a", encoding="utf-8") as log:
            log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {self.platform}\n$ {' '.join(cmd)}\n")
            log.flush()
            proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=False)
        self.downloads += len(specs)
        if proc.returncode != 0:
            text = LOG.read_text(encoding="utf-8", errors="replace").rsplit("\n--- ", 1)[-1]
            failed = re.findall(r"No matching distribution found for (\S+)", text)
            what = failed[-1] if failed else " ".join(specs)
            raise BuildError(
                f"pip could not download {what} for {self.platform} (details in {rel(LOG)}); "
                "check the network to PyPI, "
                "and that this version has a wheel for that platform, then run again"
            )

    def _prune(self) -> None:
        """Drop cached wheels this build no longer uses (older pins), keeping the cache exact."""
        keep = {w.path for w in self.chosen.values()}
        for path in self.dir.glob("*.whl"):
            if path not in keep:
                path.unlink()


# --- staging and building -------------------------------------------------------------


def rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def source_files() -> list[Path]:
    """The extension's source: what git tracks plus new files not ignored (never caches, venvs, builds).

    Blender's builder then applies the manifest's ``paths_exclude_pattern`` on top.
    """
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise BuildError(f"cannot list the source files with git ({exc}); build from a git checkout") from exc
    files = [ROOT / p for p in dict.fromkeys(out.decode("utf-8").split("\0")) if p]
    files = [f for f in files if f.is_file()]  # a tracked file deleted in the work tree is skipped
    for generated in GENERATED:  # built at setup from pinned packages, never committed, but shipped
        if not generated.is_file():
            raise BuildError(f"{rel(generated)} is missing; run ./scripts/setup to build it, then run again")
        files.append(generated)
    return files


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard link (instant, no extra space); copy across file systems.

    Not a symlink: Blender's builder silently skips symlinked files.
    """
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def toml_string_list(values: list[str]) -> str:
    return "[\n" + "".join(f'  "{v}",\n' for v in values) + "]"


def staged_manifest(text: str, platforms: list[str], wheels: list[str]) -> str:
    """The committed manifest plus generated ``platforms`` and ``wheels`` (top-level keys).

    Inserted before the first table, replacing any such keys already there.
    """
    text = re.sub(r"(?ms)^(platforms|wheels)\s*=\s*\[.*?\]\s*$\n?", "", text)
    generated = (
        "# --- generated by scripts/build_extension ---\n"
        f"platforms = {toml_string_list(platforms)}\n"
        f"wheels = {toml_string_list(wheels)}\n"
        "# --- end generated ---\n\n"
    )
    match = re.search(r"(?m)^\[", text)
    at = match.start() if match else len(text)
    result = text[:at] + generated + text[at:]
    data = tomllib.loads(result)
    if data.get("platforms") != platforms or data.get("wheels") != wheels:
        raise BuildError(f"could not add platforms/wheels to {MANIFEST}: check its layout")
    return result


def stage(files: list[Path], manifest_text: str, platform: str, wheels: list[Path]) -> None:
    """Fill ``build/extension/furrow`` with the source and this platform's wheels."""
    if STAGE.exists():
        shutil.rmtree(STAGE)
    STAGE.mkdir(parents=True)
    for src in files:
        dst = STAGE / src.relative_to(ROOT)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    (STAGE / "wheels").mkdir()
    for wheel in wheels:
        link_or_copy(wheel, STAGE / "wheels" / wheel.name)
    listed = [f"./wheels/{w.name}" for w in wheels]
    (STAGE / MANIFEST).write_text(staged_manifest(manifest_text, [platform], listed), encoding="utf-8")


def build(platforms: list[str], out_dir: Path) -> list[Path]:
    LOG.unlink(missing_ok=True)  # the log holds this run's pip output only
    cli = BlenderCli.locate()
    cli.validate(ROOT)
    manifest_text = (ROOT / MANIFEST).read_text(encoding="utf-8")
    manifest = tomllib.loads(manifest_text)
    top = read_requirements(REQUIREMENTS / "runtime.txt")
    no_deps = read_requirements(REQUIREMENTS / "no-deps.txt")
    pins = read_pins(
        [REQUIREMENTS / "constraints.txt", REQUIREMENTS / "runtime.txt", REQUIREMENTS / "no-deps.txt"]
    )
    files = source_files()
    out_dir.mkdir(parents=True, exist_ok=True)
    zips = []
    for platform in platforms:
        started = time.monotonic()
        resolver = PlatformWheels(platform, pins)
        wheels = resolver.resolve(top, no_deps)
        size = sum(w.stat().st_size for w in wheels) / 1e6
        say(
            f"{platform}: {len(wheels)} wheels, {size:.0f} MB "
            f"({resolver.downloads} downloaded, {time.monotonic() - started:.1f} s)"
        )
        # One build per platform, each holding exactly the wheels resolved for it: in a
        # single --split-platforms build a pure-Python wheel needed by one platform only
        # would land in every platform's zip.
        stage(files, manifest_text, platform, wheels)
        cli.validate(STAGE)
        cli.build(STAGE, out_dir)
        zip_path = out_dir / f"{manifest['id']}-{manifest['version']}-{platform.replace('-', '_')}.zip"
        if not zip_path.is_file():
            raise BuildError(f"Blender's builder reported success but {zip_path} is missing")
        zips.append(zip_path)
    return zips


@contextlib.contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
    """One build at a time per checkout: builds share the wheel cache and the staging folder."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks here; don't run two builds at once
            yield
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("another build_extension is running in this checkout; waiting for it")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="build_extension",
        description="Build Furrow extension zips (source + the backend's wheels) with Blender's builder.",
    )
    parser.add_argument(
        "--all-platforms",
        action="store_true",
        help=f"build {', '.join(ALL_PLATFORMS)} (default: this machine's platform only)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output folder (default: dist/)")
    args = parser.parse_args(argv)

    if args.all_platforms:
        platforms = list(ALL_PLATFORMS)
    else:
        platforms = [this_platform()]
        if platforms[0] not in WHEEL_PLATFORMS:
            die(
                f"no wheels are configured for {platforms[0]}; build with --all-platforms "
                f"({', '.join(ALL_PLATFORMS)})"
            )
    started = time.monotonic()
    try:
        with exclusive(ROOT / "build" / ".build_extension.lock"):
            zips = build(platforms, args.out.resolve())
    except BuildError as exc:
        die(str(exc))
    for zip_path in zips:
        print(f"{zip_path}  {zip_path.stat().st_size / 1e6:.1f} MB")
    say(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
