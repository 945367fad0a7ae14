"""``convrec conv ...``: kernels, shapes explained, feature maps, convolution as matmul."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from convrec.cli.common import (
    DataDirOption,
    UserError,
    console,
    input_file,
    output_file,
    unnamed_output,
)
from convrec.cli.conv_animate import animate
from convrec.cli.conv_options import (
    PADDING_NAMES_HELP,
    DilationOption,
    KernelOption,
    OutputPaddingOption,
    PaddingModeOption,
    StrideOption,
    TransposedOption,
)

if TYPE_CHECKING:
    import numpy as np

app = typer.Typer(
    help="Convolutions you can see: kernels, output shapes explained, feature maps, matmul.",
    no_args_is_help=True,
)


def _fmt_kernel(k: np.ndarray) -> str:
    return "\n".join(" ".join(f"{v:>6g}" for v in row) for row in k)


@app.command("kernels")
def kernels(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the named kernels with their values.

    Example: [bold]convrec conv kernels[/]
    """
    from convrec.conv import kernels as K

    names = K.kernel_names()
    if as_json:
        console.print_json(json.dumps({n: K.get_kernel(n).tolist() for n in names}))
        return
    table = Table(title="named kernels (cross-correlation convention)", show_lines=True)
    table.add_column("name", style="bold")
    table.add_column("shape")
    table.add_column("values")
    for name in names:
        k = K.get_kernel(name)
        table.add_row(name, str(k.shape), _fmt_kernel(k))
    console.print(table)
    console.print(
        "fastai's order for edge_kernels: "
        + ", ".join(K.EDGE_KERNEL_NAMES)
        + f" → shape {K.edge_kernels.shape}, as conv weights {K.edge_weights().shape}"
    )


@app.command("shape")
def shape(
    n: Annotated[int, typer.Argument(help="Input size (height or width).")],
    kernel: KernelOption = 3,
    stride: StrideOption = 1,
    padding: Annotated[
        str,
        typer.Option(
            "-p", "--padding", help=f"Padding: an int, 'before,after', {PADDING_NAMES_HELP}."
        ),
    ] = "0",
    dilation: DilationOption = 1,
    transposed: TransposedOption = False,
    output_padding: OutputPaddingOption = 0,
    pool: Annotated[bool, typer.Option("--pool", help="Pooling (stride defaults to k).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Explain an output size with your numbers.

    Example: [bold]convrec conv shape 28 -k 3 -s 2 -p 1[/] prints (28 + 2*1 - 3)//2 + 1 = 14.
    """
    from convrec.conv import shapes as S

    if transposed and pool:
        raise UserError("--pool and --transposed: choose one (a pooling or a transposed "
                        "convolution)")
    if output_padding and not transposed:
        raise UserError(f"--output-padding {output_padding}: only a transposed convolution "
                        "has one; add --transposed")
    parsed = S.parse_padding(padding, ndim=1, name="--padding")  # conv's one parser
    if transposed or pool:
        if isinstance(parsed, str) or parsed[0] != parsed[1]:
            raise UserError(
                f"--padding {padding!r}: {'transposed convolution' if transposed else 'pooling'}"
                " takes one integer (the same on both sides), e.g. --padding 1"
            )
        p = parsed[0]
        if transposed:
            expl = S.explain_transposed(n, kernel, stride, p, dilation, output_padding)
        else:
            expl = S.explain_pool(n, kernel, stride if stride != 1 else None, p, dilation)
    else:
        expl = S.explain_padded(n, kernel, stride, parsed, dilation)
    pads = (expl.pad_before, expl.pad_after)
    if as_json:
        console.print_json(json.dumps(expl.to_dict()))
        return
    label = {"conv": "convolution", "transposed": "transposed convolution", "pool": "pooling"}
    console.print(
        f"[bold]{label[expl.kind]}[/]: n={n}, k={kernel}, s={expl.stride}, "
        f"p={pads if pads[0] != pads[1] else pads[0]}, d={dilation}"
    )
    console.print(f"  [bold green]{expl}[/]", highlight=False)
    for note in expl.notes:
        console.print(f"  {note}", highlight=False)


@app.command("apply")
def apply(
    images: Annotated[list[Path], typer.Argument(
        help="Image files (PNG, JPEG, ...).",
        parser=input_file("image files", "digit.png", "", ("*.png", "*.jpg", "*.jpeg")))],
    kernel: Annotated[
        list[str],
        typer.Option("--kernel", "-k", help="Kernel name, values '1,0;0,-1' or a file; repeat."),
    ] = ["left_edge", "top_edge", "diag1_edge", "diag2_edge"],  # noqa: B006 - typer default
    padding: Annotated[
        str,
        typer.Option("--padding", "-p", help="An int, 'ph,pw', 'top,bottom,left,right', "
                     f"{PADDING_NAMES_HELP}."),
    ] = "0",
    stride: Annotated[int, typer.Option("--stride", "-s")] = 1,
    dilation: Annotated[int, typer.Option("--dilation", "-d")] = 1,
    padding_mode: PaddingModeOption = "zeros",
    out: Annotated[Path | None, typer.Option(
        "-o", "--out", help="Output folder (default: conv-out; files already there are "
        "replaced only when it is named).", parser=output_file("output folder", "out", "-o"))]
    = None,
) -> None:
    """Apply kernels to images: one PNG per feature map plus one grid figure.

    Example: [bold]convrec conv apply digit.png -k top_edge -k left_edge -p same -o out[/]
    """
    import numpy as np

    from convrec.conv import ConvLimits, conv2d, conv2d_plan, load_kernel, parse_padding, tuning
    from convrec.conv._padding import check_padding_mode
    from convrec.data.images import read_grayscale
    from convrec.settings import get_settings
    from convrec.vision.feature_maps import feature_map_grid, save_map_png

    settings = get_settings()
    limits = settings.limits
    # conv's guard, without the API's multiply-add budget: this runs on the user's machine
    conv_limits = ConvLimits.from_settings(limits, budget=False)
    pad = parse_padding(padding, name="--padding")
    mode = check_padding_mode(padding_mode)
    ks = [load_kernel(k, limits=conv_limits) for k in kernel]  # sizes refused before building
    pics = [
        read_grayscale(path, max_pixels=limits.max_image_pixels).astype(np.float32) / 255
        for path in images
    ]
    for path, img in zip(images, pics, strict=True):  # every check before any work or output
        for spec, k in zip(kernel, ks, strict=True):
            try:
                conv2d_plan(img.shape, k.shape, stride, pad, dilation, padding_mode=mode,
                            limits=conv_limits)
            except ValueError as exc:
                raise UserError(f"{path.name} with kernel {spec!r}: {exc}") from exc
    default = Path("conv-out")
    names = [f"{path.stem}_{_safe(spec)}.png" for path in images for spec in kernel]
    out = unnamed_output("-o", out, default, tuple(default / n for n in [*names, "grid.png"]))
    out.mkdir(parents=True, exist_ok=True)
    all_maps = []
    for path, img in zip(images, pics, strict=True):
        with tuning.tuned(settings.cache_dir):  # auto measured once per shape and machine
            maps = [
                conv2d(img, k, stride=stride, padding=pad, dilation=dilation,
                       padding_mode=mode, limits=conv_limits)
                for k in ks
            ]
        for name, m in zip(kernel, maps, strict=True):
            save_map_png(m, out / f"{path.stem}_{_safe(name)}.png")
        console.print(f"{path.name}: {img.shape} → {maps[0].shape} per kernel")
        all_maps.append(np.stack(maps))
    if len({p.shape for p in pics}) == 1:
        grid = feature_map_grid(
            np.stack(pics),
            np.stack(all_maps),
            kernel,
            out / "grid.png",
            titles=[p.name for p in images],
        )
        console.print(f"grid figure: {grid}")
    console.print(f"{len(images) * len(ks)} feature maps written to {out}/")


def _safe(kernel_spec: str) -> str:
    """A kernel spec as a file-name part (``'1,0;0,-1'`` -> ``1_0_0_-1``)."""
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in kernel_spec)[:40]


def _parse_hw(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UserError(f"--input must look like 4x4, got {text!r}") from None
    if not (1 <= h <= 12 and 1 <= w <= 12):
        raise UserError(f"--input {text}: keep it small to print (1 to 12 per side)")
    return h, w


@app.command("matmul")
def matmul(
    input_hw: Annotated[str, typer.Option("--input", help="Input size HxW, e.g. 4x4.")] = "4x4",
    kernel: Annotated[str, typer.Option("--kernel", "-k")] = "top_edge",
    stride: Annotated[int, typer.Option("--stride", "-s")] = 1,
    padding: Annotated[int, typer.Option("--padding", "-p")] = 0,
) -> None:
    """Show convolution as matrix multiplication: im2col and the Toeplitz matrix, checked.

    Example: [bold]convrec conv matmul --input 4x4 --kernel top_edge[/]
    """
    import numpy as np

    from convrec.conv import ConvLimits, conv2d, conv_matrix, im2col, load_kernel
    from convrec.settings import get_settings

    h, w = _parse_hw(input_hw)
    # the kernel's size is refused before it is built (gaussian:99999 would be 75 GiB)
    k = load_kernel(kernel, limits=ConvLimits.from_settings(get_settings().limits, budget=False))
    x = np.arange(1, h * w + 1, dtype=np.float32).reshape(h, w)
    direct = conv2d(x, k, stride=stride, padding=padding, engine="direct")
    cols = im2col(x, k.shape, stride=stride, padding=padding)  # (kH*kW, L)
    via_cols = (k.ravel() @ cols).reshape(direct.shape)
    m = np.asarray(conv_matrix(k, (h, w), stride=stride, padding=padding))
    via_toeplitz = (m @ x.ravel()).reshape(direct.shape)
    np.set_printoptions(linewidth=200)
    console.print(f"[bold]input x[/] {x.shape} (values 1..{h * w} so you can follow them):\n{x}")
    console.print(f"[bold]kernel[/] {kernel} {k.shape}:\n{k}")
    console.print(
        f"[bold]im2col(x)[/] {cols.shape}: one column per output pixel "
        f"({cols.shape[1]} = {direct.shape[0]}×{direct.shape[1]}):\n{cols}"
    )
    console.print(f"[bold]kernel.ravel() @ im2col(x)[/] → reshape {direct.shape}:\n{via_cols}")
    console.print(f"[bold]Toeplitz matrix M[/] {m.shape} (out pixels × in pixels):\n{m}")
    console.print(f"[bold]M @ x.ravel()[/] → reshape {direct.shape}:\n{via_toeplitz}")
    ok = np.allclose(via_cols, direct) and np.allclose(via_toeplitz, direct)
    status = "[green]equal[/]" if ok else "[red]DIFFERENT[/]"
    console.print(f"check against conv2d(x, kernel): {status}")
    if not ok:
        raise typer.Exit(code=1)


def demo(data_dir: DataDirOption = None) -> None:
    """The seed walk-through: the four edge kernels on a batch of 64 MNIST digits.

    Example: [bold]convrec demo --data-dir ../shared/data[/]
    """
    from convrec.conv import (
        EDGE_KERNEL_NAMES,
        conv2d,
        edge_kernels,
        edge_weights,
        explain,
        kernels as K,
    )

    console.rule("[bold]1. fastai's four edge kernels")
    for name in EDGE_KERNEL_NAMES:
        console.print(f"[bold]{name}[/]\n{_fmt_kernel(K.get_kernel(name))}", highlight=False)
    console.print(f"edge_kernels.shape = {edge_kernels.shape}  (stacked: left, top, diag1, diag2)")
    weights = edge_weights()
    console.print(f"as conv weights: {weights.shape}  (out_channels, in_channels, kH, kW)")

    console.rule("[bold]2. a batch of 64 digits")
    batch, source = _first_batch(data_dir)
    console.print(f"batch from {source}: {batch.shape}  (N, C, H, W), float32 in [0, 1]")
    maps = conv2d(batch, weights)
    console.print(f"conv2d(batch, edge_weights()) → {maps.shape}")
    console.print(f"  why 26: {explain(28, 3)}  (valid padding: the 3×3 window fits 26 times)")

    console.rule("[bold]3. padding and stride")
    console.print(f"full padding, 5 → 7:   {explain(5, 3, padding=2)}")
    console.print(f"stride 2 with p=1:     {explain(28, 3, stride=2, padding=1)}")
    for note in explain(28, 3, stride=2, padding=1).notes:
        console.print(f"                       {note}", highlight=False)


def _first_batch(data_dir: Path | None) -> tuple[np.ndarray, str]:
    """The first validation batch (64 digits) as fastai's DataBlock gives it, as floats."""
    from convrec.vision.mnist import load_mnist

    data = load_mnist(data_dir=data_dir, download=False)  # falls back to embedded digits
    if data.notice:
        console.print(data.notice, highlight=False)
    x, _ = data.first_batch("valid")  # (64, 1, 28, 28)
    return x.numpy(), data.source


app.command("animate")(animate)  # conv_arithmetic-style GIFs: see cli/conv_animate.py
