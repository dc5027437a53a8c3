"""Rewrites of ``softmax`` (solution cell ``softmax``)."""

from mlpcourse.catalogue.entry import equivalent, mutant

MUTANTS = [
    mutant("softmax", "softmax_global_sum", "divides by the sum over the whole array, not per row", """
        def softmax(y_hat):
            exps = np.exp(y_hat - np.max(y_hat, axis=1, keepdims=True))
            return exps / np.sum(exps)
    """),
    mutant("softmax", "softmax_axis0", "normalises each column (axis=0) instead of each row", """
        def softmax(y_hat):
            exps = np.exp(y_hat - np.max(y_hat, axis=0, keepdims=True))
            return exps / np.sum(exps, axis=0, keepdims=True)
    """),
    mutant("softmax", "softmax_no_shift", "no max-shift: exp overflows on large logits", """
        def softmax(y_hat):
            exps = np.exp(y_hat)
            return exps / np.sum(exps, axis=1, keepdims=True)
    """),
    mutant("softmax", "softmax_global_max", "subtracts the maximum of the whole array: rows far below it underflow to 0/0", """
        def softmax(y_hat):
            exps = np.exp(y_hat - np.max(y_hat))
            return exps / np.sum(exps, axis=1, keepdims=True)
    """),
    mutant("softmax", "softmax_no_keepdims", "row sums without keepdims: (N, C) / (N,) broadcasts wrongly", """
        def softmax(y_hat):
            exps = np.exp(y_hat - np.max(y_hat, axis=1, keepdims=True))
            return exps / np.sum(exps, axis=1)
    """),
    mutant("softmax", "softmax_shift_min", "subtracts each row's minimum instead of its maximum", """
        def softmax(y_hat):
            exps = np.exp(y_hat - np.min(y_hat, axis=1, keepdims=True))
            return exps / np.sum(exps, axis=1, keepdims=True)
    """),
    mutant("softmax", "softmax_shift_mean", "subtracts each row's mean: still overflows when a row spans a wide range", """
        def softmax(y_hat):
            exps = np.exp(y_hat - np.mean(y_hat, axis=1, keepdims=True))
            return exps / np.sum(exps, axis=1, keepdims=True)
    """),
    mutant("softmax", "softmax_squeeze", "np.squeeze on the result: a batch of one comes back 1-D", """
        def softmax(y_hat):
            exps = np.exp(y_hat - np.max(y_hat, axis=1, keepdims=True))
            return np.squeeze(exps / np.sum(exps, axis=1, keepdims=True))
    """),
    mutant("softmax", "softmax_inplace_shift", "shifts the caller's array in place (y_hat -= max)", """
        def softmax(y_hat):
            y_hat -= np.max(y_hat, axis=1, keepdims=True)
            exps = np.exp(y_hat)
            return exps / np.sum(exps, axis=1, keepdims=True)
    """),
    mutant("softmax", "softmax_log_softmax", "returns log-softmax (log-probabilities)", """
        def softmax(y_hat):
            shifted = y_hat - np.max(y_hat, axis=1, keepdims=True)
            return shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    """),
    mutant("softmax", "softmax_shift_first_row", "subtracts the first row's maximum from every row", """
        def softmax(y_hat):
            exps = np.exp(y_hat - np.max(y_hat[0]))
            return exps / np.sum(exps, axis=1, keepdims=True)
    """),
]

EQUIVALENTS = [
    equivalent("softmax", "softmax_logsumexp", "exp(y_hat - logsumexp(y_hat)) per row", """
        def softmax(y_hat):
            m = y_hat.max(axis=1, keepdims=True)
            log_norm = m + np.log(np.exp(y_hat - m).sum(axis=1, keepdims=True))
            return np.exp(y_hat - log_norm)
    """),
    equivalent("softmax", "softmax_scipy", "scipy.special.softmax(axis=1)", """
        import scipy.special

        def softmax(y_hat):
            return scipy.special.softmax(y_hat, axis=1)
    """),
    equivalent("softmax", "softmax_transposed", "works on the transpose: (exps.T / exps.sum(axis=1)).T", """
        def softmax(y_hat):
            exps = np.exp((y_hat.T - y_hat.max(axis=1)).T)
            return (exps.T / exps.sum(axis=1)).T
    """),
    equivalent("softmax", "softmax_row_loop", "a loop over rows, each normalised on its own", """
        def softmax(y_hat):
            out = np.empty(np.shape(y_hat))
            for n, row in enumerate(y_hat):
                e = np.exp(row - row.max())
                out[n] = e / e.sum()
            return out
    """, per_sample_loop=True),
    equivalent("softmax", "softmax_divide_inplace", "divides a fresh exps array in place (exps /= ...)", """
        def softmax(y_hat):
            exps = np.exp(y_hat - np.amax(y_hat, axis=-1, keepdims=True))
            exps /= exps.sum(axis=-1, keepdims=True)
            return exps
    """),
]

ENTRIES = MUTANTS + EQUIVALENTS
