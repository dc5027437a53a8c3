"""Rewrites of ``relu`` (solution cell ``relu_sigmoid``; ``sigmoid`` stays the master's)."""

from mlpcourse.quality.catalogue.entry import equivalent, mutant

MUTANTS = [
    mutant("relu", "relu_minimum", "np.minimum instead of np.maximum: keeps the negative part", """
        def relu(x, deriv=False):
            if deriv:
                return (x > 0).astype(float)
            return np.minimum(x, 0)
    """),
    mutant("relu", "relu_abs", "absolute value instead of clipping at zero", """
        def relu(x, deriv=False):
            if deriv:
                return (x > 0).astype(float)
            return np.abs(x)
    """),
    mutant("relu", "relu_leaky", "leaky ReLU (0.01 x below zero) instead of ReLU", """
        def relu(x, deriv=False):
            if deriv:
                return np.where(x > 0, 1.0, 0.01)
            return np.where(x > 0, x, 0.01 * x)
    """),
    mutant("relu", "relu_deriv_ignored", "returns relu(x) whatever deriv says", """
        def relu(x, deriv=False):
            return np.maximum(x, 0)
    """),
    mutant("relu", "relu_deriv_sign", "derivative as np.sign(x): -1 instead of 0 for negative inputs", """
        def relu(x, deriv=False):
            if deriv:
                return np.sign(x)
            return np.maximum(x, 0)
    """),
    mutant("relu", "relu_inplace", "clips the caller's array in place (x[x < 0] = 0) and returns it", """
        def relu(x, deriv=False):
            if deriv:
                x[x > 0] = 1
                x[x <= 0] = 0
                return x
            x[x < 0] = 0
            return x
    """),
    mutant("relu", "relu_2d_loops", "nested loops over rows and columns: only works on 2-D input", """
        def relu(x, deriv=False):
            out = np.zeros_like(x, dtype=float)
            for i in range(x.shape[0]):
                for j in range(x.shape[1]):
                    if x[i, j] > 0:
                        out[i, j] = 1.0 if deriv else x[i, j]
            return out
    """, per_sample_loop=True),
    mutant("relu", "relu_deriv_nan_at_zero", "derivative as relu(x) / x: 0/0 gives nan at exactly 0", """
        def relu(x, deriv=False):
            if deriv:
                return np.maximum(x, 0) / x
            return np.maximum(x, 0)
    """),
    mutant("relu", "relu_int_cast", "casts the result to int, truncating fractional values", """
        def relu(x, deriv=False):
            if deriv:
                return (x > 0).astype(int)
            return np.maximum(x, 0).astype(int)
    """),
]

EQUIVALENTS = [
    equivalent("relu", "relu_where", "np.where for the value and the derivative", """
        def relu(x, deriv=False):
            if deriv:
                return np.where(x > 0, 1.0, 0.0)
            return np.where(x > 0, x, 0.0)
    """),
    equivalent("relu", "relu_mask_multiply", "multiplication by the boolean mask x > 0", """
        def relu(x, deriv=False):
            mask = x > 0
            if deriv:
                return mask * 1.0
            return x * mask
    """),
    equivalent("relu", "relu_deriv_one_at_zero", "relu'(0) = 1 (x >= 0); the notebook accepts 0 or 1", """
        def relu(x, deriv=False):
            if deriv:
                return (x >= 0).astype(np.float64)
            return np.maximum(0, x)
    """),
    equivalent("relu", "relu_clip_heaviside", "np.clip, and np.heaviside with the subgradient 0.5 at 0", """
        def relu(x, deriv=False):
            if deriv:
                return np.heaviside(x, 0.5)
            return np.clip(x, 0, None)
    """),
    equivalent("relu", "relu_bool_deriv", "derivative returned as a boolean mask (numerically 0 and 1)", """
        def relu(x, deriv=False):
            if deriv:
                return x > 0
            return np.maximum(x, 0)
    """),
    equivalent("relu", "relu_copy_then_clip", "clips a copy in place, leaving the input alone", """
        def relu(x, deriv=False):
            out = np.array(x, dtype=float)
            if deriv:
                out[:] = x > 0
                return out
            out[out < 0] = 0
            return out
    """),
    equivalent("relu", "relu_zeros_like",
               "fills np.zeros_like(x): integer in, integer out, and the values are exact", """
        def relu(x, deriv=False):
            out = np.zeros_like(x)
            positive = x > 0
            out[positive] = 1 if deriv else x[positive]
            return out
    """),
    equivalent("relu", "relu_logs_warning", "correct, but logs a debugging line (to stderr) at every call", """
        import logging

        def relu(x, deriv=False):
            logging.getLogger("asg01.debug").warning("relu on an array of shape %s", np.shape(x))
            if deriv:
                return (x > 0).astype(float)
            return np.maximum(x, 0)
    """),
    equivalent("relu", "relu_element_loop", "a Python loop over every element (np.ndindex), any shape", """
        def relu(x, deriv=False):
            out = np.zeros(np.shape(x))
            for index in np.ndindex(*np.shape(x)):
                if x[index] > 0:
                    out[index] = 1.0 if deriv else x[index]
            return out
    """, per_sample_loop=True),
]

ENTRIES = MUTANTS + EQUIVALENTS
