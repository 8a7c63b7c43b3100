"""`glassnet faces enrol|verify|identify`: the verbs a faces run brings to the CLI (added
by the CLI through `FacesTask.commands`, so the generic CLI never names the task)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from glassnet.cli import EXIT_OK, emit_json, notes, say


def add_commands(verbs: Any) -> dict[str, Callable[[argparse.Namespace], int]]:
    from glassnet.cli import _Parser, add_output_flags

    fc = verbs.add_parser(
        "faces",
        help="enrol people, verify two faces, identify a face (faces runs)",
        description="Use a trained face embedder. Same or different is decided by the run's "
        "validation threshold (the similarity that --far of different-person pairs exceeded).",
    )
    acts = fc.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=_Parser)
    en = acts.add_parser("enrol", help="build a gallery: one entry per person sub-folder")
    en.add_argument("run", help="a faces run directory")
    en.add_argument("people", help="a folder with one sub-folder of pictures per person")
    en.add_argument("--out", metavar="DIR", help="gallery folder (default: RUN/gallery)")
    ve = acts.add_parser("verify", help="are two pictures the same person?")
    ve.add_argument("run", help="a faces run directory")
    ve.add_argument("a", help="a picture")
    ve.add_argument("b", help="another picture")
    idf = acts.add_parser("identify", help="who in the gallery is this?")
    idf.add_argument("run", help="a faces run directory")
    idf.add_argument("probe", help="a picture")
    idf.add_argument("--gallery", metavar="DIR", help="gallery folder (default: RUN/gallery)")
    idf.add_argument("--top", type=int, default=5, help="how many matches (default: 5)")
    for sub in (en, ve, idf):
        add_output_flags(sub)
    return {"faces": run_faces}


def run_faces(args: argparse.Namespace) -> int:
    from glassnet import api, faces  # here, not above: `glassnet --help` must stay fast

    run = api.load(args.run)
    doc: dict[str, Any]
    if args.action == "enrol":
        folder = faces.enrol(run, args.people, out=args.out)
        doc = {"gallery": str(folder), **json.loads((folder / "gallery.json").read_text())}
        text = f"enrolled {len(doc['people'])} people in {folder}"
    elif args.action == "verify":
        v = faces.verify(run, args.a, args.b)
        doc = {"same": v.same, "similarity": v.similarity, "threshold": v.threshold}
        text = (
            f"{'same person' if v.same else 'different people'}: similarity {v.similarity:.3f} "
            f"({'above' if v.same else 'below'} the threshold {v.threshold:.3f})"
        )
    else:
        matches = faces.identify(run, args.probe, gallery=args.gallery, top=args.top)
        doc = {"matches": matches}
        text = "\n".join(
            f"  {m['person']:<24} {m['similarity']:.3f}{'  match' if m['match'] else ''}"
            for m in matches
        )
    notes(run)
    if args.json:
        emit_json(doc)
    else:
        say(args, text)
    return EXIT_OK
