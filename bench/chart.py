"""Draws the chart of one `make bench` run (bench/bench.svg, shown in NOTES.md): server CPU
per message for every throughput workload and server, ours marked, and memory per idle
connection.

Kept apart from run.py, which stays stdlib only: matplotlib lives in the bench's own venv
(`make bench` installs it, pinned). Without it, run.py prints the table and says that no
chart was drawn.
"""

import textwrap

OURS_COLOR = "#d62728"
OTHER_COLORS = ["#4c72b0", "#55a868", "#8172b2", "#937860", "#64b5cd", "#8c8c8c"]


def available():
    try:
        import matplotlib  # noqa: F401  (only asks whether it is installed)
    except ImportError:
        return False
    return True


def bars(ax, labels, values, colors, ours, fmt):
    """Horizontal bars, top to bottom in the given order, each with its figure."""
    drawn = ax.barh(range(len(values)), values, color=colors, zorder=3)
    for bar, value, mine in zip(drawn, values, ours):
        if mine:
            bar.set_hatch("//")
            bar.set_edgecolor("black")
        ax.annotate(fmt.format(value), (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                    xytext=(3, 0), textcoords="offset points", va="center", fontsize=7)
    ax.set_yticks(range(len(values)))
    ax.set_yticklabels([textwrap.fill(lbl, 22) for lbl in labels], fontsize=7)
    ax.invert_yaxis()
    ax.margins(x=0.18)
    ax.grid(axis="x", alpha=0.3, zorder=0)
    ax.tick_params(axis="x", labelsize=7)


def write_chart(path, workloads, servers, cpu, rss, meta):
    """path: the SVG to write; workloads: [(key, label)] in order; servers: {name: label} in
    order; cpu: {(name, key): µs per message or None}; rss: {name: KB per idle connection};
    meta: the run's date and machine, shown as the subtitle."""
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    # an SVG that does not change when the figures do not: no timestamps, no random ids
    plt.rcParams["svg.hashsalt"] = "tp0-bench"
    plt.rcParams["svg.fonttype"] = "none"
    names = [n for n in servers if any(cpu.get((n, k)) is not None for k, _ in workloads)]
    shown = [(k, lbl) for k, lbl in workloads if any(cpu.get((n, k)) is not None for n in names)]
    palette, others = {}, iter(OTHER_COLORS)
    for n in servers:
        palette[n] = OURS_COLOR if n == "ours" else next(others, "#999999")
    # one panel per workload, each with its own scale: the workloads differ 50-fold, the
    # servers within one by a few percent; the last panel is memory
    cols = 4
    rows = (len(shown) + 1 + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(14, 3.6 * rows), squeeze=False)
    panels = [ax for row in axes for ax in row]
    for ax, (key, label) in zip(panels, shown):
        have = [n for n in names if cpu.get((n, key)) is not None]
        values = [cpu[(n, key)] for n in have]
        bars(ax, [servers[n] for n in have], values, [palette[n] for n in have],
             [n == "ours" for n in have], "{:.2f}")
        ax.set_title(textwrap.fill(label, 34), fontsize=9)
        ax.set_xlabel("server CPU µs per message", fontsize=8)
    rss_names = [n for n in servers if isinstance(rss.get(n), (int, float))]
    ax = panels[len(shown)]
    if rss_names:
        bars(ax, [servers[n] for n in rss_names], [rss[n] for n in rss_names],
             [palette[n] for n in rss_names], [n == "ours" for n in rss_names], "{:.2f}")
        ax.set_xscale("log")
        ax.set_title("memory: 10,000 idle connections", fontsize=9)
        ax.set_xlabel("KB of RSS per connection (log scale)", fontsize=8)
    for extra_ax in panels[len(shown) + 1:]:
        extra_ax.axis("off")

    fig.suptitle("tp0 echo server (red, hatched) vs baselines; shorter bars are better\n"
                 f"{meta['date']}, {meta['nproc']} CPUs, {meta['cpu']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)
