"""Rewrites of ``MLP.feed_forward`` (solution cell ``mlp_class``).

Each source subclasses the master's ``MLP`` under the same name, so ``__init__`` and
``add_layer`` stay the master's unless the entry rewrites them too.
"""

from mlpcourse.quality.catalogue.entry import equivalent, mutant

MUTANTS = [
    mutant("feed_forward", "feed_forward_no_reset", "lists not reset between calls: entries pile up", """
        class MLP(MLP):
            def feed_forward(self, X):
                mlp_out = X
                for layer, act_func in zip(self.parameters, self.act_funcs):
                    weighted_in = mlp_out @ layer['w'] + layer['b']
                    mlp_out = act_func(weighted_in)
                    self.weighted_ins.append(weighted_in)
                    self.activations.append(mlp_out)
                return mlp_out
    """),
    mutant("feed_forward", "feed_forward_stores_input", "stores the input X as activations[0] (off by one)", """
        class MLP(MLP):
            def feed_forward(self, X):
                self.weighted_ins = []
                self.activations = [X]
                for layer, act_func in zip(self.parameters, self.act_funcs):
                    self.weighted_ins.append(self.activations[-1] @ layer['w'] + layer['b'])
                    self.activations.append(act_func(self.weighted_ins[-1]))
                return self.activations[-1]
    """),
    mutant("feed_forward", "feed_forward_first_activation", "applies the first layer's activation to every layer", """
        class MLP(MLP):
            def feed_forward(self, X):
                self.activations = []
                self.weighted_ins = []
                mlp_out = X
                for layer in self.parameters:
                    weighted_in = mlp_out @ layer['w'] + layer['b']
                    mlp_out = self.act_funcs[0](weighted_in)
                    self.weighted_ins.append(weighted_in)
                    self.activations.append(mlp_out)
                return mlp_out
    """),
    mutant("feed_forward", "feed_forward_hardcoded_relu", "uses relu for every layer instead of act_funcs", """
        class MLP(MLP):
            def feed_forward(self, X):
                self.activations = []
                self.weighted_ins = []
                mlp_out = X
                for layer in self.parameters:
                    weighted_in = mlp_out @ layer['w'] + layer['b']
                    mlp_out = relu(weighted_in)
                    self.weighted_ins.append(weighted_in)
                    self.activations.append(mlp_out)
                return mlp_out
    """),
    mutant("feed_forward", "feed_forward_no_bias", "forgets the bias: Z = A @ w", """
        class MLP(MLP):
            def feed_forward(self, X):
                self.activations = []
                self.weighted_ins = []
                mlp_out = X
                for layer, act_func in zip(self.parameters, self.act_funcs):
                    weighted_in = mlp_out @ layer['w']
                    mlp_out = act_func(weighted_in)
                    self.weighted_ins.append(weighted_in)
                    self.activations.append(mlp_out)
                return mlp_out
    """),
    mutant("feed_forward", "feed_forward_bias_after_activation", "adds the bias after the activation: A = f(A @ w) + b", """
        class MLP(MLP):
            def feed_forward(self, X):
                self.activations = []
                self.weighted_ins = []
                mlp_out = X
                for layer, act_func in zip(self.parameters, self.act_funcs):
                    weighted_in = mlp_out @ layer['w']
                    mlp_out = act_func(weighted_in) + layer['b']
                    self.weighted_ins.append(weighted_in)
                    self.activations.append(mlp_out)
                return mlp_out
    """),
    mutant("feed_forward", "feed_forward_swapped_lists", "stores A in weighted_ins and Z in activations", """
        class MLP(MLP):
            def feed_forward(self, X):
                self.activations = []
                self.weighted_ins = []
                mlp_out = X
                for layer, act_func in zip(self.parameters, self.act_funcs):
                    weighted_in = mlp_out @ layer['w'] + layer['b']
                    mlp_out = act_func(weighted_in)
                    self.weighted_ins.append(mlp_out)
                    self.activations.append(weighted_in)
                return mlp_out
    """),
    mutant("feed_forward", "feed_forward_returns_weighted_in", "returns the last weighted input Z instead of f(Z)", """
        class MLP(MLP):
            def feed_forward(self, X):
                self.activations = []
                self.weighted_ins = []
                mlp_out = X
                for layer, act_func in zip(self.parameters, self.act_funcs):
                    weighted_in = mlp_out @ layer['w'] + layer['b']
                    mlp_out = act_func(weighted_in)
                    self.weighted_ins.append(weighted_in)
                    self.activations.append(mlp_out)
                return weighted_in
    """),
    mutant("feed_forward", "feed_forward_skips_last_layer", "loops over range(len(parameters) - 1): the last layer never runs", """
        class MLP(MLP):
            def feed_forward(self, X):
                self.activations = []
                self.weighted_ins = []
                mlp_out = X
                for i in range(len(self.parameters) - 1):
                    weighted_in = mlp_out @ self.parameters[i]['w'] + self.parameters[i]['b']
                    mlp_out = self.act_funcs[i](weighted_in)
                    self.weighted_ins.append(weighted_in)
                    self.activations.append(mlp_out)
                return mlp_out
    """),
    mutant("feed_forward", "feed_forward_squeeze", "np.squeeze on every activation: breaks on a batch of one", """
        class MLP(MLP):
            def feed_forward(self, X):
                self.activations = []
                self.weighted_ins = []
                mlp_out = X
                for layer, act_func in zip(self.parameters, self.act_funcs):
                    weighted_in = mlp_out @ layer['w'] + layer['b']
                    mlp_out = np.squeeze(act_func(weighted_in))
                    self.weighted_ins.append(weighted_in)
                    self.activations.append(mlp_out)
                return mlp_out
    """),
    mutant("feed_forward", "feed_forward_first_and_last_special",
           "first and output layers written out separately: a one-layer net runs its layer twice", """
        class MLP(MLP):
            def feed_forward(self, X):
                self.activations = []
                self.weighted_ins = []
                first, last = self.parameters[0], self.parameters[-1]
                z = X @ first['w'] + first['b']
                a = self.act_funcs[0](z)
                self.weighted_ins.append(z)
                self.activations.append(a)
                for layer, act_func in zip(self.parameters[1:-1], self.act_funcs[1:-1]):
                    z = a @ layer['w'] + layer['b']
                    a = act_func(z)
                    self.weighted_ins.append(z)
                    self.activations.append(a)
                z = a @ last['w'] + last['b']
                a = self.act_funcs[-1](z)
                self.weighted_ins.append(z)
                self.activations.append(a)
                return a
    """),
    mutant("feed_forward", "feed_forward_output_linear",
           "treats the output layer as linear (A = Z): wrong with a sigmoid output layer", """
        class MLP(MLP):
            def feed_forward(self, X):
                self.activations = []
                self.weighted_ins = []
                mlp_out = X
                last = len(self.parameters) - 1
                for i, (layer, act_func) in enumerate(zip(self.parameters, self.act_funcs)):
                    weighted_in = mlp_out @ layer['w'] + layer['b']
                    mlp_out = weighted_in if i == last else act_func(weighted_in)
                    self.weighted_ins.append(weighted_in)
                    self.activations.append(mlp_out)
                return mlp_out
    """),
    mutant("feed_forward", "feed_forward_aliased_lists",
           "self.activations = self.weighted_ins = []: one list aliased under two names", """
        class MLP(MLP):
            def feed_forward(self, X):
                self.activations = self.weighted_ins = []
                mlp_out = X
                for layer, act_func in zip(self.parameters, self.act_funcs):
                    weighted_in = mlp_out @ layer['w'] + layer['b']
                    mlp_out = act_func(weighted_in)
                    self.weighted_ins.append(weighted_in)
                    self.activations.append(mlp_out)
                return mlp_out
    """),
    mutant("feed_forward", "feed_forward_transposed_weights", "multiplies by w.T: (N, n) @ (p, n)", """
        class MLP(MLP):
            def feed_forward(self, X):
                self.activations = []
                self.weighted_ins = []
                mlp_out = X
                for layer, act_func in zip(self.parameters, self.act_funcs):
                    weighted_in = mlp_out @ layer['w'].T + layer['b']
                    mlp_out = act_func(weighted_in)
                    self.weighted_ins.append(weighted_in)
                    self.activations.append(mlp_out)
                return mlp_out
    """),
    mutant("feed_forward", "feed_forward_always_from_input", "every layer reads X instead of the previous activation", """
        class MLP(MLP):
            def feed_forward(self, X):
                self.activations = []
                self.weighted_ins = []
                mlp_out = X
                for layer, act_func in zip(self.parameters, self.act_funcs):
                    weighted_in = X @ layer['w'] + layer['b']
                    mlp_out = act_func(weighted_in)
                    self.weighted_ins.append(weighted_in)
                    self.activations.append(mlp_out)
                return mlp_out
    """),
    mutant("feed_forward", "feed_forward_overwrites_z",
           "reuses the Z buffer for A (z[...] = f(z)): the stored weighted input is overwritten", """
        class MLP(MLP):
            def feed_forward(self, X):
                self.activations = []
                self.weighted_ins = []
                mlp_out = X
                for layer, act_func in zip(self.parameters, self.act_funcs):
                    z = mlp_out @ layer['w']
                    z += layer['b']
                    self.weighted_ins.append(z)
                    z[...] = act_func(z)
                    self.activations.append(z)
                    mlp_out = z
                return mlp_out
    """),
]

EQUIVALENTS = [
    equivalent("feed_forward", "feed_forward_index_loop", "loop over layer indices with range(len(...))", """
        class MLP(MLP):
            def feed_forward(self, X):
                self.activations = []
                self.weighted_ins = []
                mlp_out = X
                for i in range(len(self.parameters)):
                    weighted_in = np.dot(mlp_out, self.parameters[i]['w']) + self.parameters[i]['b']
                    mlp_out = self.act_funcs[i](weighted_in)
                    self.weighted_ins.append(weighted_in)
                    self.activations.append(mlp_out)
                return mlp_out
    """),
    equivalent("feed_forward", "feed_forward_einsum", "np.einsum for the weighted input", """
        class MLP(MLP):
            def feed_forward(self, X):
                self.activations = []
                self.weighted_ins = []
                for layer, act_func in zip(self.parameters, self.act_funcs):
                    prev = self.activations[-1] if self.activations else X
                    self.weighted_ins.append(np.einsum('nd,dp->np', prev, layer['w']) + layer['b'])
                    self.activations.append(act_func(self.weighted_ins[-1]))
                return self.activations[-1] if self.activations else X
    """),
    equivalent("feed_forward", "feed_forward_transposed_product", "(w.T @ A.T).T + b", """
        class MLP(MLP):
            def feed_forward(self, X):
                self.activations = []
                self.weighted_ins = []
                mlp_out = X
                for layer, act_func in zip(self.parameters, self.act_funcs):
                    weighted_in = (layer['w'].T @ mlp_out.T).T + layer['b']
                    mlp_out = act_func(weighted_in)
                    self.weighted_ins.append(weighted_in)
                    self.activations.append(mlp_out)
                return mlp_out
    """),
    equivalent("feed_forward", "feed_forward_per_sample_loop", "a loop over the examples, one row at a time", """
        class MLP(MLP):
            def feed_forward(self, X):
                self.activations = []
                self.weighted_ins = []
                mlp_out = X
                for layer, act_func in zip(self.parameters, self.act_funcs):
                    weighted_in = np.array([row @ layer['w'] + layer['b'] for row in mlp_out])
                    weighted_in = weighted_in.reshape(len(mlp_out), layer['w'].shape[1])
                    mlp_out = act_func(weighted_in)
                    self.weighted_ins.append(weighted_in)
                    self.activations.append(mlp_out)
                return mlp_out
    """, per_sample_loop=True),
    equivalent("feed_forward", "feed_forward_stores_copies", "stores copies of Z and A, returns activations[-1]", """
        class MLP(MLP):
            def feed_forward(self, X):
                self.activations = []
                self.weighted_ins = []
                a = np.asarray(X)
                for layer, act_func in zip(self.parameters, self.act_funcs):
                    z = np.matmul(a, layer['w']) + layer['b'][np.newaxis, :]
                    a = act_func(z)
                    self.weighted_ins.append(z.copy())
                    self.activations.append(a.copy())
                return self.activations[-1]
    """),
    equivalent("feed_forward", "feed_forward_resets_in_init_and_call",
               "rewrites __init__ too and resets the lists with .clear() on fresh lists", """
        class MLP(MLP):
            def __init__(self, input_dim):
                super().__init__(input_dim)
                self.weighted_ins, self.activations = [], []

            def feed_forward(self, X):
                self.weighted_ins, self.activations = [], []
                out = X
                for params, f in zip(self.parameters, self.act_funcs):
                    z = out @ params['w']
                    z = z + params['b']
                    out = f(z)
                    self.weighted_ins += [z]
                    self.activations += [out]
                return out
    """),
]

ENTRIES = MUTANTS + EQUIVALENTS
