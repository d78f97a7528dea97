"""Build hook: the top-level templates/, reviews_site/docs/, mkdocs.yml and the example
policy.yaml stay where the repository keeps them and go into the wheel as `hub/_assets/`,
where `hub.app.templates.find_assets()` finds them when the hub is installed. The sdist
carries them at the top level (MANIFEST.in), so a wheel built from the sdist has them too.
Everything else about the package is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
ASSETS = ["templates", "reviews_site/docs", "mkdocs.yml", "policy.yaml"]
GENERATED = HERE / "reviews_site" / "docs" / "reviews"  # review pages a hand-run build wrote


def skip(directory, names):
    """What copytree leaves out: bytecode, and the generated review pages."""
    left_out = shutil.ignore_patterns("__pycache__", "*.py[co]")(directory, names)
    if Path(directory).resolve() == GENERATED.parent:
        left_out.add("reviews")
    return left_out


class build_py_with_assets(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's own files
        target = Path(self.build_lib) / "hub" / "_assets"
        shutil.rmtree(target, ignore_errors=True)  # nothing stale from an earlier build
        for name in ASSETS:
            source, copy = HERE / name, target / name
            if not source.exists():
                raise SystemExit(f"cannot package the hub: {source} is missing")
            copy.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, copy, ignore=skip)
            else:
                shutil.copyfile(source, copy)


setup(cmdclass={"build_py": build_py_with_assets})
