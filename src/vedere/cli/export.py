"""``vedere export``: a classifier as ONNX, or a face cascade as OpenCV XML (or vedere JSON)."""

from __future__ import annotations

from pathlib import Path

import click

from ..escape import printable
from ..fileio import check_outputs


@click.command()
@click.argument("source")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option(
    "--input-type",
    type=click.Choice(["uint8", "float32"]),
    default="uint8",
    show_default=True,
    help="ONNX: the pixels the graph takes (float32: the same 0-255 values as floats)",
)
@click.option(
    "--keep-batchnorm",
    is_flag=True,
    help="ONNX: BatchNormalization nodes instead of folding them into the convolutions",
)
def export(source: str, out: str, input_type: str, keep_batchnorm: bool) -> None:
    """Write SOURCE in a format other programs read, chosen by OUT's suffix.

    \b
    OUT.onnx  SOURCE is a run directory or model file of any classifier: an ONNX graph
              (opset 17) taking raw pixels (N, H, W, C) uint8 — or features (N, D) for a
              model trained on vectors — with the normalisation inside, giving
              "probabilities" (N, K) and "logits"; runs in onnxruntime.
    OUT.xml   SOURCE is a face cascade (a .json/.xml file, a shipped name or
              opencv:NAME): OpenCV's XML, read by cv2.CascadeClassifier.
    OUT.json  a cascade as vedere's JSON."""
    suffix = Path(out).suffix.lower()
    # before any work: never over a device or folder, never over the model or cascade read
    check_outputs([out], [source, Path(source) / "model.safetensors"])
    if suffix == ".onnx":
        from ..export.onnx_model import OPSET, export_classifier, read_summary

        path = export_classifier(
            source, out, input_type=input_type, fold_batchnorm=not keep_batchnorm
        )
        click.echo(printable(f"wrote {path}: {read_summary(path)} (ONNX opset {OPSET})"))
        return
    if suffix in (".xml", ".json"):
        from ..detect.library import resolve_cascade

        cascade = resolve_cascade(source)
        path = cascade.save(out)
        what = "OpenCV XML" if suffix == ".xml" else "vedere JSON"
        click.echo(printable(f"wrote {path}: the cascade {source} as {what}"))
        return
    raise click.UsageError(
        f"OUT {out!r}: name it .onnx (a classifier), .xml or .json (a face cascade)"
    )
