"""test_training's hidden check scores the network's parameters with the notebook's own activations.

The hidden check runs in the grader, with the student's network as plain data: no student
function runs while it is scored. These tests call it in this process on networks built
with the reference solution and on real held-out digits (the stand-in split's holdout).
"""

import numpy as np
import pytest

from test_contain import _hidden_checks


@pytest.fixture(scope="module")
def hidden():
    return _hidden_checks()


@pytest.fixture
def stand_in(grading_env, ref):
    """The stand-in training digits, as the notebook loads them: (N, 784) in [0, 1], one-hot labels."""
    from kannada_mnist import load_kannada_mnist

    images, labels = load_kannada_mnist("test", progress=False)
    return images.reshape(len(images), -1) / 255.0, np.eye(10)[labels]


def _impostor(x, y, name):
    """A classifier fitted in closed form, disguised as an activation called ``name``."""
    ridge = np.linalg.solve(x.T @ x + 10.0 * np.eye(x.shape[1]), x.T @ y)

    def impostor(z, deriv=False):
        return np.ones_like(z) if deriv else np.eye(z.shape[1])[np.argmax(z @ ridge, axis=1)]

    impostor.__name__ = impostor.__qualname__ = name
    return impostor


@pytest.mark.parametrize("name", ["squash", "relu"])
def test_an_activation_that_classifies_scores_nothing(hidden, ref, stand_in, name):
    """Does a classifier posing as an activation, under any name, fail the training check?"""
    x, y = stand_in
    mlp = ref.MLP(x.shape[1])
    mlp.add_layer(x.shape[1], _impostor(x, y, name))
    mlp.add_layer(10, ref.linear)
    mlp.parameters = [{"w": np.eye(x.shape[1]), "b": np.zeros(x.shape[1])},
                      {"w": np.eye(x.shape[1])[:, :10], "b": np.zeros(10)}]
    # The network's own forward pass classifies (through the impostor): the check must not use it.
    assert np.mean(np.argmax(mlp.feed_forward(x), axis=1) == np.argmax(y, axis=1)) > 0.85
    with pytest.raises(hidden.CheckFailure) as failure:
        hidden.check_training(mlp)
    expected = "notebook's activations" if name == "squash" else "held-out digits correctly"
    assert expected in str(failure.value)


def test_the_network_is_scored_by_its_parameters(hidden, ref, stand_in):
    """Does the check measure what the parameters do with the reference activations, on unseen digits?

    A softmax regression fitted here in closed form is a one-layer network of the notebook's
    kind: it passes the stand-in's bar, and the same weights shuffled fail it.
    """
    x, y = stand_in
    mlp = ref.MLP(x.shape[1])
    mlp.add_layer(10, ref.linear)
    w = np.linalg.solve(x.T @ x + 10.0 * np.eye(x.shape[1]), x.T @ (y - y.mean(axis=0)))
    mlp.parameters = [{"w": w, "b": np.zeros(10)}]
    hidden.check_training(mlp)
    mlp.parameters = [{"w": np.random.default_rng(0).permutation(w), "b": np.zeros(10)}]
    with pytest.raises(hidden.CheckFailure, match="held-out digits correctly"):
        hidden.check_training(mlp)


@pytest.mark.parametrize("widths", [[0, 80_000, 10], [4097, 10], [1000] * 33, [3000, 3000, 10]])
def test_a_network_too_large_to_score_is_refused_before_any_arithmetic(hidden, ref, widths):
    """Is a network with a zero-width, a too-wide layer, too many layers or too many weights failed on its shapes
    alone (its weights are never multiplied: they could ask the grader for gigabytes)?"""
    mlp = ref.MLP(784)
    sizes = [784, *widths]
    mlp.act_funcs = [ref.relu] * (len(sizes) - 2) + [ref.linear]
    mlp.parameters = [{"w": np.broadcast_to(np.int8(0), (n, p)), "b": np.zeros(p, dtype=np.int8)}
                      for n, p in zip(sizes, sizes[1:])]  # shapes without memory
    with pytest.raises(hidden.CheckFailure, match="at most"):
        hidden._network_scores(mlp, np.zeros((2000, 784)), "held-out digits")


def test_values_whose_products_would_be_subnormal_are_taken_as_zero(hidden):
    """Are weights and activations so small that their products are subnormal (about a hundred times slower
    to compute) taken as 0, and the products of the rest normal floats?"""
    flushed = hidden._normal(np.array([1e-310, -1e-160, 1e-154, 1e-90, -1.0], dtype=np.float64))
    assert flushed.tolist() == [0.0, 0.0, 0.0, 1e-90, -1.0]
    smallest = hidden.NEGLIGIBLE * hidden.NEGLIGIBLE
    assert smallest >= np.finfo(np.float64).tiny
