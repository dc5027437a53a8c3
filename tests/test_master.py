"""The master notebook's reference solution keeps the seed's interfaces."""

import inspect
import subprocess
import sys
import textwrap

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from mlpcourse import notebook, paths


@pytest.fixture(scope="module")
def ref():
    return notebook.reference_module()


def _parameters(func):
    return [(p.name, p.default) for p in inspect.signature(func).parameters.values()]


def test_signatures_are_the_seeds(ref):
    """Do the graded and given functions keep the seed's names, arguments and defaults?"""
    empty = inspect.Parameter.empty
    assert _parameters(ref.linear) == [("x", empty), ("deriv", False)]
    assert _parameters(ref.relu) == [("x", empty), ("deriv", False)]
    assert _parameters(ref.sigmoid) == [("x", empty), ("deriv", False)]
    assert _parameters(ref.softmax) == [("y_hat", empty)]
    assert _parameters(ref.categorical_cross_entropy) == [("y", empty), ("y_soft", empty)]
    assert _parameters(ref.softmax_categorical_cross_entropy) == [
        ("y", empty), ("y_hat", empty), ("return_grad", False)]
    assert _parameters(ref.mlp_gradients) == [
        ("mlp", empty), ("loss_function", empty), ("x", empty), ("y", empty)]
    assert _parameters(ref.MLP.__init__) == [("self", empty), ("input_dim", empty)]
    assert _parameters(ref.MLP.add_layer) == [("self", empty), ("layer_size", empty), ("act_func", ref.linear)]
    assert _parameters(ref.MLP.feed_forward) == [("self", empty), ("X", empty)]
    assert _parameters(ref.SGD.__init__) == [("self", empty), ("lr", 0.01), ("momentum", 0.9)]
    assert _parameters(ref.SGD.step) == [("self", empty), ("parameters", empty), ("grads", empty)]


def test_mlp_attributes_and_shapes_are_the_seeds(ref):
    """Does an MLP keep parameters/act_funcs/activations/weighted_ins with the seed's shapes?"""
    np.random.seed(0)
    mlp = ref.MLP(100)
    mlp.add_layer(64, ref.relu)
    mlp.add_layer(32, ref.relu)
    out = mlp.feed_forward(np.random.normal(size=(512, 100)))
    assert [p["w"].shape for p in mlp.parameters] == [(100, 64), (64, 32)]
    assert [p["b"].shape for p in mlp.parameters] == [(64,), (32,)]
    assert np.all(mlp.parameters[0]["b"] == 0.1)
    assert mlp.act_funcs == [ref.relu, ref.relu]
    assert [a.shape for a in mlp.activations] == [(512, 64), (512, 32)]
    assert [z.shape for z in mlp.weighted_ins] == [(512, 64), (512, 32)]
    assert out is mlp.activations[-1]
    # He initialisation: standard deviation sqrt(2 / fan_in).
    assert abs(mlp.parameters[0]["w"].std() - np.sqrt(2 / 100)) < 0.01


def test_seed_cross_entropy_example_still_gives_its_value(ref):
    """Does the seed's own cross-entropy check (rounded loss 0.032) hold for the reference?"""
    y = np.array([[1, 0, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0]])
    y_hat = np.array([[10, 1, 1], [0, -1, 9], [100, -9, 9], [0.1, 12, 10]])
    assert round(ref.categorical_cross_entropy(y, ref.softmax(y_hat)), 3) == 0.032


def test_sgd_velocity_is_a_list_of_dicts_like_parameters(ref):
    """Is SGD.velocity a list of {'w', 'b'} dicts shaped like the parameters after a step?"""
    parameters = [{"w": np.ones((3, 2)), "b": np.ones(2)}]
    optimizer = ref.SGD(lr=0.5, momentum=0.9)
    assert optimizer.velocity == []
    updated = optimizer.step(parameters, [{"w": np.ones((3, 2)), "b": np.ones(2)}])
    assert [set(v) for v in optimizer.velocity] == [{"w", "b"}]
    np.testing.assert_allclose(optimizer.velocity[0]["w"], -0.5)
    np.testing.assert_allclose(updated[0]["b"], 0.5)


# A pickle made the way the original course made its grad_mlp_test.pkl: an MLP
# instance created in a notebook, so pickled as __main__.MLP with __main__.relu.
MAKE_ORIGINAL_PICKLE = textwrap.dedent("""
    import pickle, sys
    import numpy as np
    from mlpcourse import notebook
    exec(notebook.reference_source(), globals())
    np.random.seed(3)
    mlp = MLP(20)
    mlp.add_layer(16, relu)
    mlp.add_layer(10, linear)
    mlp.feed_forward(np.random.normal(size=(4, 20)))
    with open(sys.argv[1], "wb") as handle:
        pickle.dump(mlp, handle, protocol=2)
""")


@pytest.mark.slow
def test_original_course_pickle_works_in_the_notebook(tmp_path):
    """Does an MLP pickled from __main__ (as the original course did) work with our mlp_gradients?"""
    pickle_path = tmp_path / "grad_mlp_test.pkl"
    subprocess.run([sys.executable, "-c", MAKE_ORIGINAL_PICKLE, str(pickle_path)], cwd=paths.ROOT, check=True)
    assert b"__main__" in pickle_path.read_bytes() and b"MLP" in pickle_path.read_bytes()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import numpy as np\n" + notebook.reference_source()),
                nbformat.v4.new_code_cell(textwrap.dedent(f"""
                    import pickle
                    mlp = pickle.load(open({str(pickle_path)!r}, "rb"))
                    assert sorted(vars(mlp)) == ["act_funcs", "activations", "input_dim", "parameters", "weighted_ins"]
                    x = np.random.default_rng(0).normal(size=(6, 20))
                    y = np.eye(10)[[0, 1, 2, 3, 4, 5]]
                    mlp.feed_forward(x)
                    grads = mlp_gradients(mlp, softmax_categorical_cross_entropy, x, y)
                    print([g["w"].shape for g in grads], [g["b"].shape for g in grads])
                    """))]
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    assert nb.cells[1].outputs[0].text.strip() == "[(20, 16), (16, 10)] [(16,), (10,)]"
