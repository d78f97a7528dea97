"""Where the hub's templates, knowledge-base skeleton and example policy live."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]


def find_assets() -> Path:
    """The directory holding templates/, reviews_site/docs/, mkdocs.yml and policy.yaml.

    From a checkout (an editable install, or `python -m hub.cli` in the repository) the
    repository's own files, so an edit shows at once; installed from the wheel, the copy the
    build packaged as `hub/_assets/` (setup.py).
    """
    if (CHECKOUT / "pyproject.toml").is_file() and (CHECKOUT / "templates").is_dir():
        return CHECKOUT
    packaged = Path(str(resources.files("hub") / "_assets"))
    if not (packaged / "templates").is_dir():
        raise RuntimeError(
            f"the hub's templates are missing: neither {CHECKOUT / 'templates'} (a checkout) "
            f"nor {packaged / 'templates'} (an installed wheel) exists; reinstall mihub"
        )
    return packaged


ASSETS = find_assets()
TEMPLATES = ASSETS / "templates"
MKDOCS_CONFIG = ASSETS / "mkdocs.yml"
HANDWRITTEN_DOCS = ASSETS / "reviews_site" / "docs"
EXAMPLE_POLICY = ASSETS / "policy.yaml"
