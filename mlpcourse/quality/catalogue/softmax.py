"""Rewrites of ``softmax`` (solution cell ``softmax``)."""

from mlpcourse.quality.catalogue.entry import equivalent, mutant

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
    mutant("softmax", "softmax_shift_above_700",
           "shifts by the row maxima only when the batch's maximum is above 700 (float32 overflows from 89 on)", """
        def softmax(y_hat):
            if y_hat.max() > 700:
                y_hat = y_hat - y_hat.max(axis=1, keepdims=True)
            exps = np.exp(y_hat)
            return exps / np.sum(exps, axis=1, keepdims=True)
    """),
    mutant("softmax", "softmax_shift_above_100", "shifts only when the batch's maximum is above 100", """
        def softmax(y_hat):
            if np.max(y_hat) > 100:
                y_hat = y_hat - np.max(y_hat, axis=1, keepdims=True)
            exps = np.exp(y_hat)
            return exps / np.sum(exps, axis=1, keepdims=True)
    """),
    mutant("softmax", "softmax_shift_above_88",
           "shifts only above 88, where float32 overflows: rows that are all very negative give 0 / 0", """
        def softmax(y_hat):
            if np.max(y_hat) > 88:
                y_hat = y_hat - np.max(y_hat, axis=1, keepdims=True)
            exps = np.exp(y_hat)
            return exps / np.sum(exps, axis=1, keepdims=True)
    """),
    mutant("softmax", "softmax_shift_beyond_float64_range",
           "shifts only when |logits| exceed 709, where float64 overflows: wrong in float32 from 89 on", """
        def softmax(y_hat):
            if np.abs(y_hat).max() > 709:
                y_hat = y_hat - np.max(y_hat, axis=1, keepdims=True)
            exps = np.exp(y_hat)
            return exps / np.sum(exps, axis=1, keepdims=True)
    """),
    mutant("softmax", "softmax_shift_after_overflow",
           "shifts only when exp overflowed to inf: rows that are all very negative underflow to 0 / 0", """
        def softmax(y_hat):
            exps = np.exp(y_hat)
            if not np.all(np.isfinite(exps)):
                exps = np.exp(y_hat - np.max(y_hat, axis=1, keepdims=True))
            return exps / np.sum(exps, axis=1, keepdims=True)
    """),
    mutant("softmax", "softmax_shift_rows_above_700",
           "a loop over rows that shifts a row only when its maximum is above 700", """
        def softmax(y_hat):
            out = np.empty(np.shape(y_hat))
            for n, row in enumerate(y_hat):
                if row.max() > 700:
                    row = row - row.max()
                e = np.exp(row)
                out[n] = e / e.sum()
            return out
    """, per_sample_loop=True),
    mutant("softmax", "softmax_divide_out_like_input",
           "divides into np.empty_like(y_hat) with out=: integer logits cannot hold the probabilities (raises)", """
        def softmax(y_hat):
            exps = np.exp(y_hat - np.max(y_hat, axis=1, keepdims=True))
            out = np.empty_like(y_hat)
            np.divide(exps, np.sum(exps, axis=1, keepdims=True), out=out)
            return out
    """),
    mutant("softmax", "softmax_zeros_like_rows",
           "fills np.zeros_like(y_hat) row by row: integer logits give integer (truncated) probabilities", """
        def softmax(y_hat):
            out = np.zeros_like(y_hat)
            for n in range(len(y_hat)):
                e = np.exp(y_hat[n] - np.max(y_hat[n]))
                out[n] = e / np.sum(e)
            return out
    """, per_sample_loop=True),
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
    equivalent("softmax", "softmax_shift_outside_50",
               "shifts only when some logit is outside [-50, 50]: inside, exp can neither overflow nor underflow", """
        def softmax(y_hat):
            if np.abs(y_hat).max() > 50:
                y_hat = y_hat - np.max(y_hat, axis=1, keepdims=True)
            exps = np.exp(y_hat)
            return exps / np.sum(exps, axis=1, keepdims=True)
    """),
    equivalent("softmax", "softmax_divide_inplace", "divides a fresh exps array in place (exps /= ...)", """
        def softmax(y_hat):
            exps = np.exp(y_hat - np.amax(y_hat, axis=-1, keepdims=True))
            exps /= exps.sum(axis=-1, keepdims=True)
            return exps
    """),
]

ENTRIES = MUTANTS + EQUIVALENTS
