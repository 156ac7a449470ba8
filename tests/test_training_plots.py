"""Training and study figures a reader can read: units, human legends, what each mark means."""

from __future__ import annotations

import numpy as np
import pytest

from labmnn.model.network import Network
from labmnn.training import plots
from labmnn.training.loop import train
from labmnn.training.tasks import load_task


@pytest.fixture
def figures(monkeypatch):
    """Keep each figure open for inspection instead of writing it."""
    kept = []

    def keep(fig, path):
        kept.append(fig)
        return path

    monkeypatch.setattr(plots, "_save", keep)
    yield kept
    import matplotlib.pyplot as plt

    for fig in kept:
        plt.close(fig)


def texts(fig) -> str:
    out = []
    for ax in fig.axes:
        out += [ax.get_xlabel(), ax.get_ylabel(), ax.get_title()]
        leg = ax.get_legend()
        if leg:
            out += [t.get_text() for t in leg.get_texts()]
        out += [t.get_text() for t in ax.texts]
    for leg in fig.legends:
        out += [t.get_text() for t in leg.get_texts()]
    if fig._suptitle is not None:
        out.append(fig._suptitle.get_text())
    return "\n".join(out)


def test_history_plot_has_units_goals_and_integer_epochs(figures):
    history = [{"epoch": e, "train_loss": 1e-6 / (e + 1), "uy12_mm": -0.5 - 0.1 / (e + 1)} for e in range(7)]
    plots.plot_history(history, "x.png", loss_label=plots.LOSS_LABELS["mse"], targets={"uy12_mm": -0.5})
    words = texts(figures[0])
    assert "mean squared error (m²)" in words and "u_y of node 12 (mm)" in words and "goal -0.500 mm" in words
    assert "uy12_mm" not in words
    ticks = figures[0].axes[1].get_xticks()
    assert np.allclose(ticks, np.round(ticks))


def test_class_scatter_explains_its_marks_and_quotes_both_accuracies(figures):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(30, 4))
    labels = rng.integers(0, 3, 30)
    test = np.zeros(30, dtype=bool)
    test[::3] = True
    pred = labels.copy()
    pred[:5] = (pred[:5] + 1) % 3
    plots.plot_class_scatter(features, labels, {1: pred}, ["setosa", "versicolor", "virginica"], "c.png",
                             feature_names=["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "w"],
                             test_mask=test)
    words = texts(figures[0])
    for phrase in ("training sample", "test sample", "wrong prediction", "predicted setosa", "sepal length (cm)"):
        assert phrase in words
    right = pred == labels
    assert f"test {right[test].mean():.2f}" in words and f"train {right[~test].mean():.2f}" in words


def test_prune_study_plot_marks_mechanisms_and_labels_axes(figures):
    plots.plot_prune_study([0, 2], [0.4, 0.9], [0.8, 0.95], [1], 0.97, "p.png", ylabel="test accuracy (fraction right)",
                           chance=1 / 3)
    words = texts(figures[0])
    assert "bond removed" in words and "mechanism (zero modes)" in words and "chance (0.33)" in words
    assert [t.get_text() for t in figures[0].axes[0].get_xticklabels()] == ["0", "1", "2"]


def test_retraining_ends_at_its_best_training_score_not_below_it():
    """Cross-entropy can keep falling while accuracy falls (the damaged network makes the true class a
    close second); keep_best ends retraining at the epoch with the best training accuracy."""
    task = load_task("iris")
    trained = train(task, seed=0, epochs=20).network
    pruned = trained.without_bonds([9])
    plain = train(task, seed=0, epochs=15, network=pruned.copy())
    kept = train(task, seed=0, epochs=15, network=pruned.copy(), keep_best=True)
    start = plain.history[0]["train_accuracy"]
    assert plain.history[-1]["train_accuracy"] < start  # the surrogate loss walks accuracy down
    assert kept.history[-1]["train_accuracy"] >= max(r["train_accuracy"] for r in plain.history) - 1e-12
    assert kept.history[-1]["train_loss"] >= plain.history[-1]["train_loss"]
    assert isinstance(kept.network, Network)
