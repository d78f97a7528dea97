"""`python -m tests.email_corpus DIR`: write the corpus as .eml files (with a made-up world)."""

import sys
from pathlib import Path

from tests.email_corpus import World
from tests.email_corpus.cases import build

out = Path(sys.argv[1] if len(sys.argv) > 1 else "var/email-corpus")
out.mkdir(parents=True, exist_ok=True)
for i, case in enumerate(build(World("dev-insecure-secret-key", 1, "example|key|email"))):
    (out / f"{i:03d}-{case.name}.eml").write_bytes(case.raw)
print(f"wrote the corpus to {out}")
