"""Rewrites of ``sigmoid`` (solution cell ``relu_sigmoid``; ``relu`` stays the master's)."""

from mlpcourse.quality.catalogue.entry import equivalent, mutant

MUTANTS = [
    mutant("sigmoid", "sigmoid_missing_minus", "exp(x) instead of exp(-x): computes sigmoid(-x)", """
        def sigmoid(x, deriv=False):
            s = 1 / (1 + np.exp(x))
            return s * (1 - s) if deriv else s
    """),
    mutant("sigmoid", "sigmoid_deriv_of_output", "derivative x * (1 - x): treats the input as sigmoid(x)", """
        def sigmoid(x, deriv=False):
            if deriv:
                return x * (1 - x)
            return 1 / (1 + np.exp(-x))
    """),
    mutant("sigmoid", "sigmoid_deriv_of_sigmoid", "derivative of the wrong argument: sigma'(sigma(x))", """
        def sigmoid(x, deriv=False):
            s = 1 / (1 + np.exp(-x))
            if deriv:
                t = 1 / (1 + np.exp(-s))
                return t * (1 - t)
            return s
    """),
    mutant("sigmoid", "sigmoid_deriv_sign", "derivative s * (s - 1): wrong sign", """
        def sigmoid(x, deriv=False):
            s = 1 / (1 + np.exp(-x))
            return s * (s - 1) if deriv else s
    """),
    mutant("sigmoid", "sigmoid_deriv_ignored", "returns sigmoid(x) whatever deriv says", """
        def sigmoid(x, deriv=False):
            return 1 / (1 + np.exp(-x))
    """),
    mutant("sigmoid", "sigmoid_exp_ratio", "exp(x) / (1 + exp(x)): inf / inf = nan for large x", """
        def sigmoid(x, deriv=False):
            s = np.exp(x) / (1 + np.exp(x))
            return s * (1 - s) if deriv else s
    """),
    mutant("sigmoid", "sigmoid_clip_10", "clips x to [-10, 10] against overflow: wrong beyond", """
        def sigmoid(x, deriv=False):
            s = 1 / (1 + np.exp(-np.clip(x, -10, 10)))
            return s * (1 - s) if deriv else s
    """),
    mutant("sigmoid", "sigmoid_inplace", "negates the caller's array in place (x *= -1)", """
        def sigmoid(x, deriv=False):
            x *= -1
            s = 1 / (1 + np.exp(x))
            return s * (1 - s) if deriv else s
    """),
    mutant("sigmoid", "sigmoid_tanh_missing_half", "tanh form without the 1/2 inside: 0.5 * (1 + tanh(x))", """
        def sigmoid(x, deriv=False):
            s = 0.5 * (1 + np.tanh(x))
            return s * (1 - s) if deriv else s
    """),
    mutant("sigmoid", "sigmoid_math_exp", "math.exp per element (np.vectorize): OverflowError at -1000", """
        import math

        def sigmoid(x, deriv=False):
            s = np.vectorize(lambda v: 1 / (1 + math.exp(-v)))(x)
            return s * (1 - s) if deriv else s
    """, per_sample_loop=True),
    mutant("sigmoid", "sigmoid_branches_swapped", "stable form with the two branches of np.where swapped", """
        def sigmoid(x, deriv=False):
            e = np.exp(-np.abs(x))
            s = np.where(x >= 0, e / (1 + e), 1 / (1 + e))
            return s * (1 - s) if deriv else s
    """),
    mutant("sigmoid", "sigmoid_deriv_finite_difference",
           "derivative by centred differences with h = 1e-5: right in float64, wrong in float32", """
        def sigmoid(x, deriv=False):
            if deriv:
                h = 1e-5
                return (sigmoid(x + h) - sigmoid(x - h)) / (2 * h)
            return 1 / (1 + np.exp(-x))
    """),
    mutant("sigmoid", "sigmoid_deriv_exp_ratio",
           "derivative as exp(-x) / (1 + exp(-x))**2: inf / inf = nan for x = -1000", """
        def sigmoid(x, deriv=False):
            if deriv:
                return np.exp(-x) / (1 + np.exp(-x)) ** 2
            return 1 / (1 + np.exp(-x))
    """),
    mutant("sigmoid", "sigmoid_deriv_exp_ratio_positive",
           "derivative as exp(x) / (1 + exp(x))**2: inf / inf = nan for x = 1000", """
        def sigmoid(x, deriv=False):
            if deriv:
                return np.exp(x) / (1 + np.exp(x)) ** 2
            return 1 / (1 + np.exp(-x))
    """),
    mutant("sigmoid", "sigmoid_zeros_like",
           "stable two-branch form filling np.zeros_like(x): integer input gives truncated integers", """
        def sigmoid(x, deriv=False):
            s = np.zeros_like(x)
            positive = x >= 0
            s[positive] = 1 / (1 + np.exp(-x[positive]))
            e = np.exp(x[~positive])
            s[~positive] = e / (1 + e)
            return s * (1 - s) if deriv else s
    """),
    mutant("sigmoid", "sigmoid_inplace_on_copy",
           "works in place on x.copy() (np.exp(s, out=s)): an integer copy cannot hold the floats", """
        def sigmoid(x, deriv=False):
            s = x.copy()
            np.negative(s, out=s)
            np.exp(s, out=s)
            s += 1
            np.reciprocal(s, out=s)
            return s * (1 - s) if deriv else s
    """),
]

EQUIVALENTS = [
    equivalent("sigmoid", "sigmoid_naive", "naive 1 / (1 + exp(-x)): overflows to inf at -1000, still gives 0", """
        def sigmoid(x, deriv=False):
            s = 1 / (1 + np.exp(-x))
            if deriv:
                return s * (1 - s)
            return s
    """),
    equivalent("sigmoid", "sigmoid_tanh_form", "0.5 * (1 + tanh(x / 2))", """
        def sigmoid(x, deriv=False):
            s = 0.5 * (1 + np.tanh(0.5 * x))
            return s * (1 - s) if deriv else s
    """),
    equivalent("sigmoid", "sigmoid_expit", "scipy.special.expit", """
        from scipy.special import expit

        def sigmoid(x, deriv=False):
            s = expit(x)
            return s * (1 - s) if deriv else s
    """),
    equivalent("sigmoid", "sigmoid_logaddexp", "exp(-log(1 + exp(-x))) through np.logaddexp", """
        def sigmoid(x, deriv=False):
            s = np.exp(-np.logaddexp(0, -x))
            return s * (1 - s) if deriv else s
    """),
    equivalent("sigmoid", "sigmoid_symmetric_deriv", "derivative as e / (1 + e)**2 with e = exp(-|x|)", """
        def sigmoid(x, deriv=False):
            e = np.exp(-np.abs(x))
            if deriv:
                return e / (1 + e) ** 2
            return np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    """),
    equivalent("sigmoid", "sigmoid_zeros_float",
               "stable two-branch form filling np.zeros(np.shape(x)) (floats, whatever the input's dtype)", """
        def sigmoid(x, deriv=False):
            s = np.zeros(np.shape(x))
            positive = x >= 0
            s[positive] = 1 / (1 + np.exp(-x[positive]))
            e = np.exp(x[~positive])
            s[~positive] = e / (1 + e)
            return s * (1 - s) if deriv else s
    """),
    equivalent("sigmoid", "sigmoid_clipped_input", "clips x to [-500, 500] before the naive formula", """
        def sigmoid(x, deriv=False):
            s = 1.0 / (1.0 + np.exp(-np.clip(x, -500, 500)))
            return s * (1.0 - s) if deriv else s
    """),
]

ENTRIES = MUTANTS + EQUIVALENTS
