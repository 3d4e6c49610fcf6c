"""``vedere detect VIDEO``: the video branch of :mod:`vedere.cli.detect`."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ..detect.cascade import Cascade
from ..escape import printable


def detect_video_cli(
    path: str,
    cascade: Cascade,
    out: str | None,
    boxes: str | None,
    as_json: bool,
    track: bool,
    kwargs: dict[str, Any],
) -> None:
    """One line per frame on stdout (JSON with ``--json``), a progress bar on stderr; a broken
    video is an error naming the frame, after the frames before it are printed and written.
    ``--out FILE.jsonl`` means ``--boxes FILE.jsonl``."""
    if out is not None and out.lower().endswith(".jsonl"):
        if boxes is not None:
            raise click.UsageError("--out FILE.jsonl and --boxes both name the boxes file")
        out, boxes = None, out
    from tqdm import tqdm

    from ..detect.video import detect_video

    def echo(line: str) -> None:  # above the progress bar, which stays at the bottom
        tqdm.write(line, file=sys.stdout)

    def show(r: dict[str, Any]) -> None:
        if as_json:
            echo(json.dumps(r))
            return
        t = "" if r["time"] is None else f" ({r['time']:.2f} s)"
        n = len(r["boxes"])
        found = " ".join(f"x={b['x']} y={b['y']} w={b['w']} h={b['h']}" for b in r["boxes"])
        echo(f"frame {r['frame']}{t}: {n} {'box' if n == 1 else 'boxes'} {found}".rstrip())

    res = detect_video(
        path, cascade, out=out, boxes_out=boxes, on_frame=show, track=track, progress=True, **kwargs
    )
    if not as_json:
        i = res.info
        fps = f", {float(i.rate):g} frames/s" if i.rate else ""
        speed = res.frames / res.seconds if res.seconds > 0 else 0.0
        click.echo(
            f"{printable(path)}: {res.frames} frames ({i.width}x{i.height}{fps}), boxes in "
            f"{res.with_boxes}, scanned at {speed:.1f} frames/s"
            + (f"; wrote {printable(out)}" if out else "")
        )
