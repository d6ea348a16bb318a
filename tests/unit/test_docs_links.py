"""The README and docs/ explain the system with what a clone has: every link to a file stays
inside the repository and points at a file that exists (web addresses are for everyone)."""
import os
import re

from scripts.system import ROOT

LINK = re.compile(r"\]\(([^)\s]+)\)")


def documents():
    yield os.path.join(ROOT, "README.md")
    docs = os.path.join(ROOT, "docs")
    yield from (os.path.join(docs, name) for name in sorted(os.listdir(docs))
                if name.endswith(".md"))


def test_every_link_of_the_docs_is_a_file_of_the_repository():
    for document in documents():
        with open(document) as f:
            text = f.read()
        assert "../shared" not in text, document   # the design lives in docs/ now
        targets = LINK.findall(text)
        for target in targets:
            path = target.split("#", 1)[0]
            if not path or target.startswith(("https://", "http://", "mailto:")):
                continue
            resolved = os.path.realpath(os.path.join(os.path.dirname(document), path))
            assert resolved.startswith(ROOT + os.sep), (document, target)
            assert os.path.exists(resolved), (document, target)
