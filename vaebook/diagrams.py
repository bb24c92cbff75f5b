"""The book's diagrams of the model, drawn by matplotlib so that they look the same everywhere.

Each function returns a `matplotlib.figure.Figure` made without pyplot, so a chapter shows it
by ending a (hidden) cell with the call, and the inline backend does not show it twice:

- `graphical_model()`: the directed graphical model of the paper's Fig. 1 (§2.1);
- `vae_network()`: the encoder, the sampling of z (Eq. 10) and the decoder as a block
  diagram, with the sizes of Appendix C and the two terms of the loss (Eq. 7);
- `reparameterization_graphs()`: the computation graph before and after the
  reparameterization trick (§2.4), with the path of the gradient.

One visual language throughout: deterministic nodes are rounded boxes, random nodes circles
(shaded where observed), parameters small dots (Fig. 1); forward arrows are solid and black,
gradients red and dashed. The symbols are those of the book's notation page ($z$, not a bold
z). Each diagram is laid out in units of inches at `DESIGN_WIDTH`, and scaled to the book's
column width (`style.FULL_WIDTH` where the style defines it); no text is below 10 pt.
"""

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch
from matplotlib.path import Path

from vaebook import style

DESIGN_WIDTH = 7.0  # the width, in inches, the layouts below are drawn for

# The palette: ink for structure, one colour per part of the model, red for gradients.
INK = "#222222"
MUTED = "#555555"
WHITE = "#ffffff"
OBSERVED = "#cfcfcf"  # the shading of an observed node, as in the paper's Fig. 1
ENCODER, ENCODER_LIGHT = "#1f5f99", "#e6eff8"
DECODER, DECODER_LIGHT = "#b35806", "#fcecdc"
LOSS, LOSS_LIGHT = "#2b7a3b", "#e5f3e7"
GRADIENT = "#c62828"

SYMBOL = 14  # a node's symbol: z, x, θ, φ
LABEL = 11  # names of blocks, titles
SMALL = 10  # sizes, annotations, legends: the smallest text of the diagrams
LINE_WIDTH = 1.3
ROUNDING = 0.08  # the corner radius of boxes, in design units
ARROW_HEAD = "-|>,head_length=0.45,head_width=0.22"
DASHES = (0, (4, 2.5))  # the dashes of the variational approximation and of gradients


def _column_width():
    """The figure width in inches: the style's full column width, if it defines one."""
    return float(getattr(style, "FULL_WIDTH", DESIGN_WIDTH))


# --- drawing helpers ------------------------------------------------------------------------


def _canvas(ax, width, height, fig=None, rect=(0.0, 0.0, 1.0, 1.0)):
    """An axes (given, or new) whose data coordinates run over [0, width] x [0, height]."""
    if ax is None:
        if fig is None:
            scale = _column_width() / DESIGN_WIDTH
            fig = Figure(figsize=(scale * width, scale * height), layout="none")  # placed by hand
        ax = fig.add_axes(rect)
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.set_axis_off()
    return ax.figure, ax


def _text(ax, xy, text, size=LABEL, color=INK, gid=None, **kwargs):
    kwargs.setdefault("ha", "center")
    kwargs.setdefault("va", "center")
    return ax.text(*xy, text, fontsize=size, color=color, gid=gid, zorder=5, **kwargs)


def _center(node):
    """The centre of a node drawn by `_circle`, `_box` or `_dot`; a point is its own."""
    if isinstance(node, Circle):
        return node.center
    if isinstance(node, FancyBboxPatch):
        return node.get_x() + node.get_width() / 2, node.get_y() + node.get_height() / 2
    return node


def _name(node):
    return node.get_gid().removeprefix("node:")


def _circle(ax, xy, label, name, radius=0.27, observed=False):
    """A random node: a circle, shaded if observed, with its symbol inside."""
    node = Circle(xy, radius, facecolor=OBSERVED if observed else WHITE, edgecolor=INK,
                  linewidth=LINE_WIDTH, gid=f"node:{name}", zorder=3)
    ax.add_patch(node)
    if label:
        _text(ax, xy, label, SYMBOL, gid=f"inside:node:{name}")
    return node


def _box(ax, xy, size, lines, name, edge=INK, fill=WHITE, spacing=0.24):
    """A deterministic node: a rounded box with lines of text, each `(text, fontsize, colour)`."""
    (x, y), (width, height) = xy, size
    node = FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                          boxstyle=f"round,pad=0,rounding_size={ROUNDING}", facecolor=fill,
                          edgecolor=edge, linewidth=LINE_WIDTH, gid=f"node:{name}", zorder=3)
    ax.add_patch(node)
    for i, (text, fontsize, colour) in enumerate(lines):
        offset = ((len(lines) - 1) / 2 - i) * spacing
        _text(ax, (x, y + offset), text, fontsize, colour, gid=f"inside:node:{name}")
    return node


def _dot(ax, xy, name, radius=0.055):
    """A parameter (θ, φ): a small filled dot, labelled beside it by the caller."""
    node = Circle(xy, radius, facecolor=INK, edgecolor=INK, linewidth=LINE_WIDTH,
                  gid=f"node:{name}", zorder=3)
    ax.add_patch(node)
    return node


def _area(ax, lower_left, size, name, edge="none", fill="none", dashed=False, zorder=1):
    """A rounded rectangle around nodes: a plate, or the background of a part of the model."""
    area = FancyBboxPatch(lower_left, *size,
                          boxstyle=f"round,pad=0,rounding_size={1.5 * ROUNDING}", facecolor=fill,
                          edgecolor=edge, linewidth=LINE_WIDTH, linestyle=DASHES if dashed else "-",
                          gid=name, zorder=zorder)
    ax.add_patch(area)
    return area


def _arrow(ax, start, end, name, color=INK, dashed=False, rad=0.0, head=True):
    """An arrow from the edge of node `start` to the edge of node `end` (or between points).

    `rad` bends it (matplotlib's arc3): positive to the left of its direction.
    """
    arrow = FancyArrowPatch(
        _center(start), _center(end),
        patchA=start if hasattr(start, "contains_point") else None,
        patchB=end if hasattr(end, "contains_point") else None,
        arrowstyle=ARROW_HEAD if head else "-", mutation_scale=15, shrinkA=1.5, shrinkB=1.5,
        connectionstyle=f"arc3,rad={rad}", color=color, linewidth=LINE_WIDTH,
        linestyle=DASHES if dashed else "-", joinstyle="miter", capstyle="butt", gid=name,
        zorder=2)
    ax.add_patch(arrow)
    return arrow


def _forward(ax, *edges):
    """Solid black arrows between pairs of nodes, each named "forward:start->end"."""
    for start, end in edges:
        _arrow(ax, start, end, f"forward:{_name(start)}->{_name(end)}")


def _polyline(ax, points, name, color=INK):
    """An arrow along a polyline of right angles (a routed connection), between points."""
    arrow = FancyArrowPatch(path=Path(np.asarray(points, dtype=float)), arrowstyle=ARROW_HEAD,
                            mutation_scale=15, color=color, linewidth=LINE_WIDTH,
                            joinstyle="miter", gid=name, zorder=2)
    ax.add_patch(arrow)
    return arrow


def _cross(ax, xy, name, size=0.11):
    """A red ✗ (two strokes, so that no font needs the glyph): the gradient stops here."""
    x, y = xy
    for sign in (1, -1):
        ax.plot([x - size, x + size], [y - sign * size, y + sign * size], color=GRADIENT,
                linewidth=2.6, solid_capstyle="round", gid=name, zorder=6)


def _legend_rows(ax, rows, x, text_x, top, step):
    """A legend: one row per `(text, draw)`, where `draw(x, y)` draws the mark at (x, y)."""
    for i, (text, draw) in enumerate(rows):
        y = top - i * step
        draw(x, y)
        _text(ax, (text_x, y), text, SMALL, ha="left")


# --- the graphical model (§2.1, Fig. 1) -----------------------------------------------------


def graphical_model(ax=None):
    """The directed graphical model of the paper's Fig. 1 (§2.1).

    The latent z (an open circle) generates the observed x (a shaded circle), both inside a
    plate repeated for the N data points; the parameters θ and φ (dots) lie outside it.
    Solid arrows are the generative model p_θ(z) p_θ(x|z): z → x, θ → z and θ → x. Dashed
    arrows are the variational approximation q_φ(z|x) to the intractable posterior:
    x → z and φ → z. A legend on the right names each kind of mark.

    Args:
        ax: the axes to draw in; None for a new figure of the book's column width.

    Returns:
        The figure.
    """
    fig, ax = _canvas(ax, DESIGN_WIDTH, 2.9)
    z = _circle(ax, (1.75, 2.1), "$z$", "z", radius=0.3)
    x = _circle(ax, (1.75, 0.8), "$x$", "x", radius=0.3, observed=True)
    phi = _dot(ax, (0.55, 2.1), "phi")
    theta = _dot(ax, (2.95, 1.45), "theta")
    _text(ax, (0.55, 2.36), r"$\phi$", SYMBOL)
    _text(ax, (3.2, 1.45), r"$\theta$", SYMBOL)
    _area(ax, (1.2, 0.25), (1.1, 2.4), "plate", edge=INK)
    _text(ax, (2.18, 0.4), "$N$", LABEL, ha="right")

    _arrow(ax, z, x, "edge:z->x")
    _arrow(ax, theta, z, "edge:theta->z")
    _arrow(ax, theta, x, "edge:theta->x")
    _arrow(ax, x, z, "edge:x->z", dashed=True, rad=-0.55)
    _arrow(ax, phi, z, "edge:phi->z", dashed=True)

    def mark(draw):
        return lambda left, y: draw(left + 0.17, y)

    _legend_rows(ax, [
        ("latent variable $z$",
         mark(lambda x, y: _circle(ax, (x, y), "", "legend:latent", radius=0.13))),
        ("observed variable $x$",
         mark(lambda x, y: _circle(ax, (x, y), "", "legend:observed", radius=0.13, observed=True))),
        (r"parameters $\theta$ and $\phi$",
         mark(lambda x, y: _dot(ax, (x, y), "legend:parameter"))),
        (r"generative model $p_\theta(z)\,p_\theta(x \mid z)$",
         lambda x, y: _arrow(ax, (x, y), (x + 0.34, y), "legend:solid")),
        (r"variational approximation $q_\phi(z \mid x)$",
         lambda x, y: _arrow(ax, (x, y), (x + 0.34, y), "legend:dashed", dashed=True)),
        ("plate: repeated for $N$ data points",
         lambda x, y: _area(ax, (x, y - 0.13), (0.34, 0.26), "legend:plate", edge=INK)),
    ], x=3.7, text_x=4.2, top=2.55, step=0.43)
    return fig


# --- the network (§3, Appendix C) -----------------------------------------------------------


def _check_size(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"Expected `{name}` to be a positive integer. Received: {name}={value!r}")
    return int(value)


def _shape(text):
    """The second line of a block: its size or its activation, smaller and muted."""
    return (text, SMALL, MUTED)


def _columns(widths, gap_weights, left, right):
    """The left edges and centres of columns of `widths`, with gaps in proportion to weights."""
    widths, weights = np.asarray(widths), np.asarray(gap_weights)
    gaps = weights * (DESIGN_WIDTH - left - right - widths.sum()) / weights.sum()
    edges = left + np.concatenate([[0.0], np.cumsum(widths[:-1] + gaps)])
    return edges, edges + widths / 2


def vae_network(input_dim=784, hidden_units=500, latent_dim=20, likelihood="bernoulli", ax=None):
    """The VAE of the paper's experiments as a block diagram, left to right (§3, Appendix C).

    The encoder q_φ(z|x) maps x (D = `input_dim` pixels) through a hidden tanh layer to μ
    and log σ² (J = `latent_dim` each); z = μ + σ ⊙ ε with ε ~ N(0, I) (Eq. 10); the
    decoder p_θ(x|z) maps z through a hidden tanh layer to D logits ℓ and y = sigmoid(ℓ)
    (Bernoulli, Appendix C.1), or to μ_x and log σ_x² (Gaussian, C.2). The two terms of
    the SGVB estimator B (Eq. 7) are attached where they are computed: the KL divergence
    from μ and log σ², the reconstruction term log p_θ(x|z) from the output and the data x.
    The layers are deterministic (boxes); ε is random (a circle) and x observed (shaded).

    Args:
        input_dim: D, the number of pixels.
        hidden_units: the units of the hidden layer (of the encoder and of the decoder).
        latent_dim: J, the size of z.
        likelihood: `"bernoulli"` or `"gaussian"`: the decoder's output.
        ax: the axes to draw in; None for a new figure of the book's column width.

    Returns:
        The figure.
    """
    input_dim = _check_size("input_dim", input_dim)
    hidden_units = _check_size("hidden_units", hidden_units)
    latent_dim = _check_size("latent_dim", latent_dim)
    if likelihood not in ("bernoulli", "gaussian"):
        raise ValueError("Expected `likelihood` to be 'bernoulli' or 'gaussian'. "
                         f"Received: likelihood={likelihood!r}")
    bernoulli = likelihood == "bernoulli"
    fig, ax = _canvas(ax, DESIGN_WIDTH, 4.1)

    # Columns: x, hidden, (μ, log σ²), z, hidden, then logits and y, or (μ_x, log σ_x²).
    # The gaps beside a pair of boxes are wider: their arrows fan out and in.
    widths = [0.56, 0.78, 0.7, 0.58, 0.78] + ([0.76, 0.74] if bernoulli else [0.72])
    weights = [1.0, 1.3, 1.3, 1.0] + ([1.0, 1.0] if bernoulli else [1.3])
    edges, cx = _columns(widths, weights, left=0.1, right=0.17 if bernoulli else 0.24)
    row, height = 1.75, 0.62  # the centre line of the blocks, and their height
    offset, pair_height, margin = 0.37, 0.56, 0.07  # a pair of boxes, and its background

    def block(column, lines, name, edge=INK):
        return _box(ax, (cx[column], row), (widths[column], height), lines, name, edge)

    def pair(column, lines, names, edge, name):
        """Two boxes, one above the other (μ over log σ²), on a dashed background."""
        width, bottom = widths[column], row - offset - pair_height / 2 - margin
        background = _area(ax, (cx[column] - width / 2 - margin, bottom),
                           (width + 2 * margin, 2 * (offset + margin) + pair_height),
                           f"pair:{name}", edge=edge, fill=WHITE, dashed=True, zorder=2)
        boxes = [_box(ax, (cx[column], row + sign * offset), (width, pair_height), text, box, edge)
                 for sign, text, box in zip((1, -1), lines, names)]
        return background, *boxes

    # The encoder's and the decoder's areas, behind their blocks.
    bottom, top, right = 0.62, 2.62, DESIGN_WIDTH - 0.05
    encoder_left, decoder_left = edges[1] - 0.12, edges[4] - 0.12
    encoder_right = edges[2] + widths[2] + 0.12
    _area(ax, (encoder_left, bottom), (encoder_right - encoder_left, top - bottom),
          "area:encoder", fill=ENCODER_LIGHT)
    _area(ax, (decoder_left, bottom), (right - decoder_left, top - bottom),
          "area:decoder", fill=DECODER_LIGHT)
    _text(ax, (encoder_left + 0.1, bottom + 0.2), r"encoder $q_\phi(z \mid x)$", LABEL, ENCODER,
          ha="left")
    _text(ax, (right - 0.1, bottom + 0.2), r"decoder $p_\theta(x \mid z)$", LABEL, DECODER,
          ha="right")

    # The encoder, the sampling of z (Eq. 10) and the decoder.
    hidden = [("hidden", LABEL, INK), _shape(f"{hidden_units} tanh")]
    latent, data = _shape(f"$J$ = {latent_dim}"), _shape(f"$D$ = {input_dim}")
    x = _circle(ax, (cx[0], row), "$x$", "x", radius=widths[0] / 2, observed=True)
    _text(ax, (cx[0], row - 0.5), data[0], SMALL, MUTED)
    encoder_hidden = block(1, hidden, "encoder_hidden", ENCODER)
    q, mu, log_var = pair(2, [[(r"$\mu$", LABEL, INK), latent],
                              [(r"$\log\sigma^2$", LABEL, INK), latent]],
                          ("mu", "log_var"), ENCODER, "q")
    z = block(3, [("$z$", LABEL, INK), latent], "z")
    _text(ax, (cx[3], top + 0.14), r"$z = \mu + \sigma \odot \epsilon$", SMALL)
    epsilon = _circle(ax, (cx[3], 0.68), r"$\epsilon$", "epsilon", radius=0.22)
    _text(ax, (cx[3], 0.22), r"$\epsilon \sim \mathcal{N}(0, I)$" + f", $J$ = {latent_dim}",
          SMALL, MUTED)
    decoder_hidden = block(4, hidden, "decoder_hidden", DECODER)
    _forward(ax, (x, encoder_hidden), (encoder_hidden, mu), (encoder_hidden, log_var), (mu, z),
             (log_var, z), (epsilon, z), (z, decoder_hidden))
    if bernoulli:
        logits = block(5, [(r"logits $\ell$", LABEL, INK), data], "logits", DECODER)
        output = block(6, [("$y$", LABEL, INK), _shape("sigmoid")], "y", DECODER)
        _forward(ax, (decoder_hidden, logits), (logits, output))
        output_x, output_top = cx[6], row + height / 2
    else:
        output, x_mean, x_log_var = pair(5, [[(r"$\mu_x$", LABEL, INK), data],
                                             [(r"$\log\sigma_x^2$", LABEL, INK), data]],
                                         ("x_mean", "x_log_var"), DECODER, "p")
        _forward(ax, (decoder_hidden, x_mean), (decoder_hidden, x_log_var))
        output_x, output_top = cx[5], row + offset + pair_height / 2 + margin

    # The two terms of the loss above the blocks they are computed from; x is routed over them.
    loss_row, loss_size = 3.3, (1.95, 0.6)
    kl_text = r"$D_{KL}(q_\phi(z \mid x) \,\Vert\, p_\theta(z))$"
    kl = _box(ax, (cx[2], loss_row), loss_size, [("KL term", SMALL, LOSS), (kl_text, SMALL, INK)],
              "kl", LOSS, LOSS_LIGHT, spacing=0.22)
    reconstruction_x = min(output_x, right - loss_size[0] / 2)
    _box(ax, (reconstruction_x, loss_row), loss_size,
         [("reconstruction term", SMALL, LOSS), (r"$\log p_\theta(x \mid z)$", SMALL, INK)],
         "reconstruction", LOSS, LOSS_LIGHT, spacing=0.22)
    loss_top, loss_bottom = loss_row + loss_size[1] / 2, loss_row - loss_size[1] / 2
    _arrow(ax, q, kl, "loss:q->kl", LOSS)
    _arrow(ax, (output_x, output_top), (output_x, loss_bottom), "loss:output->reconstruction",
           LOSS)
    route, entry = loss_top + 0.22, reconstruction_x - 0.6
    _polyline(ax, [(cx[0], row + widths[0] / 2 + 0.03), (cx[0], route), (entry, route),
                   (entry, loss_top + 0.03)], "loss:x->reconstruction", LOSS)
    _text(ax, (cx[0] + 0.1, route + 0.14), "the data $x$", SMALL, LOSS, ha="left")
    return fig


# --- the reparameterization trick (§2.4, Eq. 10) --------------------------------------------


def reparameterization_graphs():
    """The computation graph before and after the reparameterization trick (§2.4, Eq. 10).

    Left, before: φ and x give μ and σ, from which z ~ q_φ(z|x) is sampled (a random node)
    and f (e.g. log p_θ(x|z)) is computed. The gradient ∂f/∂z exists, but it cannot be
    carried back through the sampling to μ, σ and φ (a red ✗). Right, after: the randomness
    is moved into an input ε ~ N(0, I) beside the path, z = μ + σ ⊙ ε is deterministic, and
    the gradient flows from f through z to μ, σ and φ (red, dashed). Kingma & Welling
    (2019, Fig. 2.3) draw the same comparison.

    Returns:
        The figure: two panels (axes labelled "before" and "after") above a legend.
    """
    panel_height, legend_height = 3.95, 0.85
    total = panel_height + legend_height
    scale = _column_width() / DESIGN_WIDTH
    fig = Figure(figsize=(scale * DESIGN_WIDTH, scale * total), layout="none")
    for i, name in enumerate(("before", "after")):
        _, ax = _canvas(None, DESIGN_WIDTH / 2, panel_height, fig=fig,
                        rect=(i / 2, legend_height / total, 0.5, panel_height / total))
        ax.set_label(name)
        _computation_graph(ax, after=name == "after")
    _, legend = _canvas(None, DESIGN_WIDTH, legend_height, fig=fig,
                        rect=(0, 0, 1, legend_height / total))
    legend.set_label("legend")
    _graph_legend(legend)
    return fig


def _computation_graph(ax, after):
    """One panel of `reparameterization_graphs`: the graph before or after the trick."""
    title = (r"After: $z = \mu + \sigma \odot \epsilon$" if after
             else r"Before: $z \sim q_\phi(z \mid x)$")
    _text(ax, (1.75, 3.72), title, LABEL, weight="bold")
    chain, levels = 1.95, (3.1, 2.2, 1.3, 0.4)  # x of the chain; y of φ and x, μ and σ, z, f
    node = (0.46, 0.42)
    phi = _box(ax, (chain - 0.5, levels[0]), node, [(r"$\phi$", SYMBOL, INK)], "phi")
    x = _circle(ax, (chain + 0.5, levels[0]), "$x$", "x", radius=0.22, observed=True)
    moments = _box(ax, (chain, levels[1]), (0.74, 0.42), [(r"$\mu, \sigma$", LABEL, INK)],
                   "moments")
    if after:
        z = _box(ax, (chain, levels[2]), node, [("$z$", SYMBOL, INK)], "z")
        epsilon = _circle(ax, (chain + 1.0, levels[2]), r"$\epsilon$", "epsilon", radius=0.22)
        _text(ax, (chain + 1.0, levels[2] - 0.42), r"$\epsilon \sim \mathcal{N}(0, I)$", SMALL,
              MUTED)
        _forward(ax, (epsilon, z))
    else:
        z = _circle(ax, (chain, levels[2]), "$z$", "z", radius=0.24)
        _text(ax, (chain + 0.34, levels[2]), "sampled", SMALL, MUTED, ha="left")
    f = _box(ax, (chain, levels[3]), node, [("$f$", SYMBOL, INK)], "f")
    _text(ax, (chain + 0.34, levels[3]), r"e.g. $\log p_\theta(x \mid z)$", SMALL, MUTED,
          ha="left")
    _forward(ax, (phi, moments), (x, moments), (moments, z), (z, f))

    # The gradient, backwards along the left of the chain; `between` are the heights between
    # the levels, from the top.
    between = [(a + b) / 2 for a, b in zip(levels[1:], levels[:-1])]

    def gradient(start, end, head=True):
        _arrow(ax, start, end, f"gradient:{_name(start)}->{_name(end)}", GRADIENT, dashed=True,
               rad=-0.45, head=head)

    def note(y, text, x=chain - 0.42):
        _text(ax, (x, y), text, SMALL, GRADIENT, ha="right")

    gradient(f, z)
    note(between[2], r"$\partial f / \partial z$")
    if after:
        gradient(z, moments)
        gradient(moments, phi)
        note(between[1], r"$\partial z / \partial \mu = 1$" "\n"
             r"$\partial z / \partial \sigma = \epsilon$")
        note(between[0] - 0.05, r"$\nabla_\phi f$", x=chain - 0.82)
    else:
        gradient(z, moments, head=False)
        _cross(ax, (chain - 0.2, between[1]), "blocked")
        note(between[1], "no gradient\nthrough sampling")


def _graph_legend(ax):
    """The legend under `reparameterization_graphs`: three columns of two marks."""
    def shifted(draw):
        return lambda x, y: draw(x + 0.18, y)

    columns = [
        [("deterministic node", shifted(lambda x, y: _box(ax, (x, y), (0.3, 0.26), [],
                                                          "legend:deterministic"))),
         ("forward pass", lambda x, y: _arrow(ax, (x, y), (x + 0.36, y), "legend:forward"))],
        [("random node", shifted(lambda x, y: _circle(ax, (x, y), "", "legend:random",
                                                      radius=0.13))),
         ("gradient (backward)", lambda x, y: _arrow(ax, (x + 0.36, y), (x, y), "legend:gradient",
                                                     GRADIENT, dashed=True))],
        [("observed data", shifted(lambda x, y: _circle(ax, (x, y), "", "legend:observed",
                                                        radius=0.13, observed=True))),
         ("no gradient", shifted(lambda x, y: _cross(ax, (x, y), "legend:blocked", size=0.08)))],
    ]
    for i, rows in enumerate(columns):
        left = 0.37 + 2.2 * i
        _legend_rows(ax, rows, x=left, text_x=left + 0.48, top=0.62, step=0.38)
