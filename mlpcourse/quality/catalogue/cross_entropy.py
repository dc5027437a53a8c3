"""Rewrites of ``categorical_cross_entropy`` (solution cell ``cross_entropy``)."""

from mlpcourse.quality.catalogue.entry import equivalent, mutant

MUTANTS = [
    mutant("cross_entropy", "cross_entropy_sum", "sum over the batch instead of the mean", """
        def categorical_cross_entropy(y, y_soft):
            return -np.sum(y * np.log(y_soft))
    """),
    mutant("cross_entropy", "cross_entropy_missing_minus", "forgets the minus sign: a negative loss", """
        def categorical_cross_entropy(y, y_soft):
            return np.mean(np.sum(y * np.log(y_soft), axis=1))
    """),
    mutant("cross_entropy", "cross_entropy_mean_of_elements", "mean over all N * C elements: divides by C too", """
        def categorical_cross_entropy(y, y_soft):
            return -np.mean(y * np.log(y_soft))
    """),
    mutant("cross_entropy", "cross_entropy_log10", "np.log10 instead of the natural logarithm", """
        def categorical_cross_entropy(y, y_soft):
            return -np.mean(np.sum(y * np.log10(y_soft), axis=1))
    """),
    mutant("cross_entropy", "cross_entropy_swapped_arguments", "log of the targets: y_soft * log(y)", """
        def categorical_cross_entropy(y, y_soft):
            return -np.mean(np.sum(y_soft * np.log(y), axis=1))
    """),
    mutant("cross_entropy", "cross_entropy_per_example", "returns the per-example losses, not their mean", """
        def categorical_cross_entropy(y, y_soft):
            return -np.sum(y * np.log(y_soft), axis=1)
    """),
    mutant("cross_entropy", "cross_entropy_divides_by_classes", "divides the sum by the number of classes, not examples", """
        def categorical_cross_entropy(y, y_soft):
            return -np.sum(y * np.log(y_soft)) / y.shape[1]
    """),
    mutant("cross_entropy", "cross_entropy_inplace_epsilon", "adds the epsilon into the caller's array (y_soft += 1e-12)", """
        def categorical_cross_entropy(y, y_soft):
            y_soft += 1e-12
            return -np.mean(np.sum(y * np.log(y_soft), axis=1))
    """),
    mutant("cross_entropy", "cross_entropy_predicted_class", "log of the largest predicted probability, not the true class's", """
        def categorical_cross_entropy(y, y_soft):
            return -np.mean(np.log(np.max(y_soft, axis=1)))
    """),
    mutant("cross_entropy", "cross_entropy_sum_axis0", "sums over the batch (axis=0), then averages over classes", """
        def categorical_cross_entropy(y, y_soft):
            return -np.mean(np.sum(y * np.log(y_soft), axis=0))
    """),
    mutant("cross_entropy", "cross_entropy_binary_formula", "binary cross-entropy formula: adds (1 - y) log(1 - y_soft)", """
        def categorical_cross_entropy(y, y_soft):
            per_class = y * np.log(y_soft) + (1 - y) * np.log(1 - y_soft)
            return -np.mean(np.sum(per_class, axis=1))
    """),
    mutant("cross_entropy", "cross_entropy_squeeze", "squeezes its inputs first: a batch of one loses its row axis", """
        def categorical_cross_entropy(y, y_soft):
            y, y_soft = np.squeeze(y), np.squeeze(y_soft)
            return -np.mean(np.sum(y * np.log(y_soft), axis=1))
    """),
]

EQUIVALENTS = [
    equivalent("cross_entropy", "cross_entropy_clipped", "clips y_soft to [1e-12, 1] before the log (allowed by the notebook)", """
        def categorical_cross_entropy(y, y_soft):
            return -np.mean(np.sum(y * np.log(np.clip(y_soft, 1e-12, 1.0)), axis=1))
    """),
    equivalent("cross_entropy", "cross_entropy_epsilon", "adds 1e-12 inside the log (allowed by the notebook)", """
        def categorical_cross_entropy(y, y_soft):
            return -np.sum(y * np.log(y_soft + 1e-12)) / y.shape[0]
    """),
    equivalent("cross_entropy", "cross_entropy_true_class_probability", "log of the probability picked out by y", """
        def categorical_cross_entropy(y, y_soft):
            return -np.mean(np.log(np.sum(y * y_soft, axis=1)))
    """),
    equivalent("cross_entropy", "cross_entropy_fancy_index", "labels by argmax, then y_soft[arange(N), labels]", """
        def categorical_cross_entropy(y, y_soft):
            labels = np.argmax(y, axis=1)
            return -np.mean(np.log(y_soft[np.arange(len(labels)), labels]))
    """),
    equivalent("cross_entropy", "cross_entropy_einsum", "np.einsum over both axes, divided by N, as a Python float", """
        def categorical_cross_entropy(y, y_soft):
            return float(-np.einsum('nc,nc->', y, np.log(y_soft)) / y.shape[0])
    """),
    equivalent("cross_entropy", "cross_entropy_example_loop", "a loop over the examples, accumulating the loss", """
        import math

        def categorical_cross_entropy(y, y_soft):
            total = 0.0
            for target, probs in zip(y, y_soft):
                total -= math.log(probs[int(np.argmax(target))])
            return total / len(y)
    """, per_sample_loop=True),
]

ENTRIES = MUTANTS + EQUIVALENTS
