"""``leukmodel synth`` and ``leukmodel validate``: make a cohort, check a cohort."""

from __future__ import annotations

from pathlib import Path

import click


def _floats(ctx: click.Context, param: click.Parameter, value: str | None) -> list[float] | None:
    if value is None:
        return None
    try:
        return [float(v) for v in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a comma-separated list of numbers") from None


@click.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--patients", default=60, show_default=True, help="Number of patients (one sample each).")
@click.option("--images-per-patient", default=4, show_default=True, help="Images in each patient's bag.")
@click.option("--seed", default=0, show_default=True, help="Same seed, byte-identical files.")
@click.option(
    "--style",
    type=click.Choice(["smear", "segmented", "mixed"]),
    default="mixed",
    show_default=True,
    help="Smear fields on a pale background, C-NMC-like cells on black, or both.",
)
@click.option("--image-size", default=450, show_default=True, help="Square image side in pixels.")
@click.option("--classes", default="ALL,AML,CLL,CML", show_default=True, help="Comma-separated class names.")
@click.option("--class-balance", callback=_floats, help="Comma-separated class fractions (default equal).")
@click.option("--signal", default=1.0, show_default=True, help="Strength of the planted signal (0 = none).")
@click.option("--noise", default=1.0, show_default=True, help="Per-image and per-gene noise scale.")
@click.option("--genes", "n_genes", default=2000, show_default=True, help="Number of expression probes.")
def synth(out: Path, classes: str, class_balance: list[float] | None, **knobs) -> None:
    """Write a synthetic cohort to OUT (C-NMC images, CuMiDa expression, manifest, config.yaml).

    The planted signal is documented in docs/synthetic.md: acute vs chronic in morphology, lymphoid vs
    myeloid in expression, so only the two modalities together identify the class.
    """
    from pydantic import ValidationError

    from leukmodel.config import SyntheticConfig
    from leukmodel.data.synthetic import write_synthetic_cohort

    values = {"classes": [c.strip() for c in classes.split(",")], "class_balance": class_balance, **knobs}
    try:
        cfg = SyntheticConfig(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "classes"
        option = "--genes" if field == "n_genes" else f"--{field.replace('_', '-')}"
        raise click.BadParameter(error["msg"], param_hint=option) from None
    config_path = write_synthetic_cohort(out, cfg)
    click.echo(f"wrote a synthetic cohort of {cfg.patients} patients to {out}")
    click.echo(f"config: {config_path}\nnext:   leukmodel validate {config_path}")


@click.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--check-images/--no-check-images",
    default=True,
    show_default=True,
    help="Decode every image (finds unreadable, truncated, grayscale, 16-bit and too small files).",
)
def validate(config_path: Path, check_images: bool) -> None:
    """Read the cohort CONFIG describes, print a summary, and fail with a named error on bad input."""
    from leukmodel.config import load_config
    from leukmodel.data import build_cohort, check_folds_feasible, summarize
    from leukmodel.data import check_images as decode_all

    config = load_config(config_path)
    cohort = build_cohort(config)
    click.echo(summarize(cohort).to_text())
    if check_images and cohort.has_images:
        blank: list[str] = []
        n = decode_all(cohort, config.tiles, no_foreground=blank)
        click.echo(f"images: all {n} readable")
        if blank:
            click.echo(f"images without a foreground tile, left out (tiles.on_no_foreground: skip): {len(blank)}")
            click.echo(
                "\n".join(f"  {line}" for line in blank[:10])
                + (f"\n  ... and {len(blank) - 10} more" if len(blank) > 10 else "")
            )
    check_folds_feasible(cohort, config.cv.n_folds)
    click.echo(f"folds: {config.cv.n_folds}-fold patient-grouped cross-validation is feasible")
