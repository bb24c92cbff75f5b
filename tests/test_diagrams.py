"""The book's diagrams (vaebook.diagrams), drawn with matplotlib's Agg backend.

Beyond rendering, the checks are those of a careful reader: each diagram shows what it must
(its arrows, sizes and panels), no two texts overlap, no arrow or line runs through a text,
arrows end at the edges of their nodes, a node's text lies inside it, nodes do not overlap,
no text is below 10 pt, and nothing leaves the figure. The diagrams name their parts by gid:
"node:z", "edge:z->x", "forward:...", "gradient:...", "loss:...", "inside:node:z" for a
node's text.
"""

import functools
import itertools
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.colors import same_color  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch  # noqa: E402
from matplotlib.path import Path  # noqa: E402

from vaebook import diagrams, style  # noqa: E402

BUILDERS = {
    "graphical_model": diagrams.graphical_model,
    "vae_network": diagrams.vae_network,
    "vae_network_frey_face": lambda: diagrams.vae_network(560, 200, 2),
    "vae_network_gaussian": lambda: diagrams.vae_network(560, 200, 2, likelihood="gaussian"),
    "vae_network_large": lambda: diagrams.vae_network(3072, 1000, 200),  # 4-digit sizes
    "reparameterization_graphs": diagrams.reparameterization_graphs,
}
NODES = (Circle, FancyBboxPatch)


@pytest.fixture(autouse=True)
def book_style():
    with matplotlib.rc_context():
        style.use()
        yield
    plt.close("all")


@functools.cache
def built(name):
    """The diagram `name`, drawn once for all the read-only checks below."""
    with matplotlib.rc_context():
        style.use()
        return BUILDERS[name]()


def render(fig):
    """Draw `fig` on an Agg canvas; return its renderer."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def texts(fig):
    return [t for ax in fig.axes for t in ax.texts if t.get_visible() and t.get_text().strip()]


def by_gid(fig, kind=(FancyArrowPatch, *NODES, Line2D), ax=None):
    """The patches and lines of `fig` (or of its axes `ax`) that have a gid, keyed by it.

    A gid is unique within one axes (the two strokes of a ✗ share one: the first is kept).
    """
    found = {}
    for axes in [ax] if ax is not None else fig.axes:
        for artist in [*axes.patches, *axes.lines]:
            if isinstance(artist, kind) and artist.get_gid():
                found.setdefault(artist.get_gid(), artist)
    return found


def display_path(artist):
    return artist.get_transform().transform_path(artist.get_path())


def polylines(artist):
    """The artist's outline in display coordinates as polylines (curves flattened)."""
    return [p for p in display_path(artist).to_polygons(closed_only=False) if len(p) > 1]


def crosses(artist, box):
    return any(Path(line).intersects_bbox(box, filled=False) for line in polylines(artist))


def is_dashed(arrow):
    return arrow.get_linestyle() not in ("-", "solid")


def centre(artist):
    return artist.get_window_extent().get_points().mean(axis=0)


def distance_to_edge(node, point):
    """Pixels from `point` to the outline of `node`; negative where `point` lies inside it."""
    distances = []
    for polygon in polylines(node):
        a, b = polygon[:-1], polygon[1:]
        t = np.clip(np.einsum("ij,ij->i", point - a, b - a) / np.einsum("ij,ij->i", b - a, b - a),
                    0, 1)
        distances.append(np.min(np.linalg.norm(a + t[:, None] * (b - a) - point, axis=1)))
    return -min(distances) if display_path(node).contains_point(point) else min(distances)


def assert_touches(arrow, node):
    """The arrow's point nearest to `node` lies just outside its outline: 0 to 6 px away."""
    gaps = [distance_to_edge(node, point) for line in polylines(arrow) for point in line]
    assert 0 < min(gaps) <= 6, (arrow.get_gid(), node.get_gid(), min(gaps))


# --- every diagram ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", BUILDERS)
def test_every_diagram_renders_to_png_at_the_book_column_width(name, tmp_path):
    """A Figure kept out of pyplot (a notebook shows it once), as wide as the book's column."""
    figures_before = plt.get_fignums()
    fig = BUILDERS[name]()
    assert isinstance(fig, Figure) and plt.get_fignums() == figures_before
    width = getattr(style, "FULL_WIDTH", diagrams.DESIGN_WIDTH)
    assert fig.get_figwidth() == pytest.approx(width)
    assert 2.5 <= fig.get_figheight() <= width
    fig.savefig(tmp_path / f"{name}.png", dpi=100)
    image = plt.imread(tmp_path / f"{name}.png")
    # matplotlib truncates a fractional pixel: the size in inches times 100, to within a pixel
    height_px, width_px = image.shape[:2]
    assert abs(height_px - fig.get_figheight() * 100) < 1 and abs(width_px - width * 100) < 1
    assert image[..., :3].std() > 0.05  # something was drawn


@pytest.mark.parametrize("name", BUILDERS)
def test_no_two_texts_overlap(name, fig=None):
    fig = fig or built(name)
    renderer = render(fig)
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts(fig)]
    for (text_a, a), (text_b, b) in itertools.combinations(boxes, 2):
        overlap = min(a.x1, b.x1) - max(a.x0, b.x0), min(a.y1, b.y1) - max(a.y0, b.y0)
        assert min(overlap) <= 0, f"{text_a!r} overlaps {text_b!r}"


@pytest.mark.parametrize("name", BUILDERS)
def test_nothing_lies_outside_the_figure(name, fig=None):
    """Every text, patch and line keeps at least a pixel inside the figure's edges."""
    fig = fig or built(name)
    renderer = render(fig)
    frame = fig.bbox
    for artist in [*texts(fig), *(a for ax in fig.axes for a in [*ax.patches, *ax.lines])]:
        box = artist.get_window_extent(renderer)
        assert (box.x0 >= frame.x0 + 1 and box.y0 >= frame.y0 + 1 and box.x1 <= frame.x1 - 1
                and box.y1 <= frame.y1 - 1), f"{artist} ({artist.get_gid()}) leaves the figure"


@pytest.mark.parametrize("name", BUILDERS)
def test_no_arrow_or_line_runs_through_a_text(name, fig=None):
    fig = fig or built(name)
    renderer = render(fig)
    lines = [a for ax in fig.axes for a in [*ax.patches, *ax.lines]
             if isinstance(a, (FancyArrowPatch, Line2D))]
    assert lines
    for text in texts(fig):
        box = text.get_window_extent(renderer).expanded(1.0, 1.0)
        for line in lines:
            assert not crosses(line, box), f"{line.get_gid()} runs through {text.get_text()!r}"


@pytest.mark.parametrize("name", BUILDERS)
def test_each_nodes_text_lies_inside_it_and_nodes_do_not_overlap(name):
    fig = built(name)
    renderer = render(fig)
    inside = 0
    for ax in fig.axes:
        nodes = {gid: n for gid, n in by_gid(fig, NODES, ax).items() if gid.startswith("node:")}
        for text in ax.texts:
            if (text.get_gid() or "").startswith("inside:"):
                node = nodes[text.get_gid().removeprefix("inside:")]
                box = text.get_window_extent(renderer)
                for corner in itertools.product((box.x0, box.x1), (box.y0, box.y1)):
                    assert node.contains_point(corner), f"{text.get_text()!r} leaves {node}"
                inside += 1
        for a, b in itertools.combinations(nodes.values(), 2):
            assert not a.get_window_extent().overlaps(b.get_window_extent()), (a, b)
    assert inside >= 2


@pytest.mark.parametrize("name", BUILDERS)
def test_arrows_start_and_end_at_the_edges_of_their_nodes(name):
    """An arrow named "kind:a->b" touches the outlines of a and b, where they are drawn."""
    fig = built(name)
    render(fig)
    checked = 0
    for ax in fig.axes:
        patches = by_gid(fig, NODES, ax)
        for gid, arrow in by_gid(fig, FancyArrowPatch, ax).items():
            if gid.startswith("legend:"):
                continue
            for end in gid.split(":", 1)[1].split("->"):
                node = patches.get(f"node:{end}") or patches.get(f"pair:{end}")
                if node is not None:
                    assert_touches(arrow, node)
                    checked += 1
    assert checked >= 8


@pytest.mark.parametrize("name", BUILDERS)
def test_no_text_is_smaller_than_10_points(name):
    assert min(t.get_fontsize() for t in texts(built(name))) >= 10


def test_the_diagrams_follow_the_styles_column_width(monkeypatch):
    """With a narrower style.FULL_WIDTH the figures take it, and their layout still holds."""
    monkeypatch.setattr(style, "FULL_WIDTH", 6.5, raising=False)
    for name, build in BUILDERS.items():
        fig = build()
        assert fig.get_figwidth() == pytest.approx(6.5), name
        test_no_two_texts_overlap(name, fig=fig)
        test_nothing_lies_outside_the_figure(name, fig=fig)
        test_no_arrow_or_line_runs_through_a_text(name, fig=fig)


def test_a_diagram_draws_into_given_axes():
    fig = Figure(figsize=(7, 3))
    ax = fig.add_subplot()
    assert diagrams.graphical_model(ax=ax) is fig
    assert diagrams.vae_network(ax=fig.add_subplot(212)) is fig
    assert "node:z" in by_gid(fig, NODES, ax) and not ax.axison


def test_the_layout_checks_catch_what_they_look_for():
    """Each check fails on a diagram spoiled on purpose, so its passing means something."""
    def spoiled(spoil):
        fig = diagrams.graphical_model()
        spoil(fig.axes[0])
        return fig

    with pytest.raises(AssertionError, match="overlaps"):
        test_no_two_texts_overlap("", fig=spoiled(lambda ax: ax.text(2.15, 0.4, "N")))
    with pytest.raises(AssertionError, match="leaves the figure"):
        test_nothing_lies_outside_the_figure("", fig=spoiled(lambda ax: ax.text(6.9, 1, "far")))
    with pytest.raises(AssertionError, match="runs through"):
        test_no_arrow_or_line_runs_through_a_text(
            "", fig=spoiled(lambda ax: ax.add_patch(FancyArrowPatch((3.0, 2.55), (6.0, 2.55)))))


# --- the graphical model ----------------------------------------------------------------------


def test_graphical_model_is_the_papers_figure_1():
    """Solid z → x, θ → z, θ → x (the generative model), dashed x → z, φ → z (q_φ(z|x)).

    z is open, x shaded, both inside the plate of the N data points; θ and φ outside it.
    """
    fig = built("graphical_model")
    render(fig)
    edges = {gid: a for gid, a in by_gid(fig, FancyArrowPatch).items() if gid.startswith("edge:")}
    assert {gid for gid, a in edges.items() if is_dashed(a)} == {"edge:x->z", "edge:phi->z"}
    assert {gid for gid, a in edges.items() if not is_dashed(a)} == {
        "edge:z->x", "edge:theta->z", "edge:theta->x"}
    nodes = by_gid(fig, Circle)
    assert same_color(nodes["node:z"].get_facecolor(), "white")
    assert not same_color(nodes["node:x"].get_facecolor(), "white")
    plate = by_gid(fig)["plate"]
    for name, inside in (("z", True), ("x", True), ("theta", False), ("phi", False)):
        assert plate.contains_point(centre(nodes[f"node:{name}"])) == inside, name
    strings = [t.get_text() for t in texts(fig)]
    assert {"$z$", "$x$", "$N$", r"$\theta$", r"$\phi$"} <= set(strings)
    assert any("generative" in s and r"p_\theta(z)\,p_\theta(x \mid z)" in s for s in strings)
    assert any("variational" in s and r"q_\phi(z \mid x)" in s for s in strings)
    legend = by_gid(fig, FancyArrowPatch)
    assert not is_dashed(legend["legend:solid"]) and is_dashed(legend["legend:dashed"])


# --- the network ------------------------------------------------------------------------------


def sizes(fig):
    """The sizes the network diagram prints: D, J and the hidden units, each as a list."""
    strings = [t.get_text() for t in texts(fig)]
    patterns = {"D": r"\$D\$ = (\d+)", "J": r"\$J\$ = (\d+)", "hidden": r"(\d+) tanh"}
    return {key: [int(n) for s in strings for n in re.findall(pattern, s)]
            for key, pattern in patterns.items()}


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_network_diagram_prints_the_sizes_of_its_arguments(likelihood):
    """x and the output (the logits, or μ_x and log σ_x²) have D; μ, log σ², z and ε have J."""
    d = 2 if likelihood == "bernoulli" else 3
    assert sizes(diagrams.vae_network(likelihood=likelihood)) == {
        "D": [784] * d, "J": [20] * 4, "hidden": [500] * 2}
    frey_face = diagrams.vae_network(input_dim=560, hidden_units=200, latent_dim=2,
                                     likelihood=likelihood)
    assert sizes(frey_face) == {"D": [560] * d, "J": [2] * 4, "hidden": [200] * 2}


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_network_diagram_marks_encoder_decoder_sampling_and_where_the_loss_attaches(likelihood):
    fig = diagrams.vae_network(likelihood=likelihood)
    render(fig)
    joined = "\n".join(t.get_text() for t in texts(fig))
    for piece in (r"encoder $q_\phi(z \mid x)$", r"decoder $p_\theta(x \mid z)$",
                  r"$z = \mu + \sigma \odot \epsilon$", r"$\epsilon \sim \mathcal{N}(0, I)$",
                  r"$D_{KL}(q_\phi(z \mid x) \,\Vert\, p_\theta(z))$",
                  r"$\log p_\theta(x \mid z)$"):
        assert piece in joined
    bernoulli = likelihood == "bernoulli"
    assert ("logits" in joined and "sigmoid" in joined) == bernoulli
    assert (r"$\mu_x$" in joined and r"$\log\sigma_x^2$" in joined) == (not bernoulli)
    parts = by_gid(fig)
    assert isinstance(parts["node:epsilon"], Circle)  # random
    assert isinstance(parts["node:z"], FancyBboxPatch)  # deterministic, given ε
    assert "forward:epsilon->z" in parts
    # The KL term from μ and log σ² (the pair around them); the reconstruction term from the
    # decoder's output and from the data x.
    for name in ("mu", "log_var"):
        assert parts["pair:q"].contains_point(centre(parts[f"node:{name}"]))
    output = parts["node:y"] if bernoulli else parts["pair:p"]
    for arrow, start, end in (("loss:q->kl", parts["pair:q"], "kl"),
                              ("loss:output->reconstruction", output, "reconstruction"),
                              ("loss:x->reconstruction", parts["node:x"], "reconstruction")):
        assert_touches(parts[arrow], start)
        assert_touches(parts[arrow], parts[f"node:{end}"])


@pytest.mark.parametrize("arguments", [dict(input_dim=0), dict(hidden_units=2.5),
                                       dict(latent_dim=True), dict(likelihood="poisson")])
def test_network_diagram_refuses_arguments_it_cannot_draw(arguments):
    with pytest.raises(ValueError, match="Expected"):
        diagrams.vae_network(**arguments)


# --- the reparameterization trick -------------------------------------------------------------


def test_reparameterization_graphs_block_the_gradient_before_and_carry_it_after():
    fig = built("reparameterization_graphs")
    render(fig)
    assert [ax.get_label() for ax in fig.axes] == ["before", "after", "legend"]
    before, after = (ax.get_position() for ax in fig.axes[:2])
    assert before.width == pytest.approx(after.width) and before.x1 <= after.x0 + 1e-9
    for ax in fig.axes[:2]:
        parts = by_gid(fig, ax=ax)
        forward = [p for gid, p in parts.items() if gid.startswith("forward:")]
        gradient = {gid: p for gid, p in parts.items() if gid.startswith("gradient:")}
        assert forward and all(same_color(p.get_edgecolor(), diagrams.INK) and not is_dashed(p)
                               for p in forward)
        assert all(same_color(p.get_edgecolor(), diagrams.GRADIENT) and is_dashed(p)
                   for p in gradient.values())
        if ax.get_label() == "before":  # z is sampled: a random node, where the gradient stops
            assert isinstance(parts["node:z"], Circle) and "node:epsilon" not in parts
            assert "blocked" in parts and "gradient:moments->phi" not in gradient
            # The gradient's arrow to μ, σ is drawn up to the ✗, without a head.
            assert type(gradient["gradient:z->moments"].get_arrowstyle()).__name__ == "Curve"
        else:  # z = μ + σ ⊙ ε: deterministic, with the noise ε a random input beside the path
            assert isinstance(parts["node:z"], FancyBboxPatch)
            assert isinstance(parts["node:epsilon"], Circle) and "forward:epsilon->z" in parts
            assert "blocked" not in parts
            assert set(gradient) == {"gradient:f->z", "gradient:z->moments",
                                     "gradient:moments->phi"}
    legend = " ".join(t.get_text() for t in fig.axes[2].texts)
    for piece in ("deterministic node", "random node", "forward pass", "gradient (backward)"):
        assert piece in legend
