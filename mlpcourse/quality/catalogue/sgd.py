"""Rewrites of the ``SGD`` optimiser (solution cell ``sgd``).

Sources either subclass the master's ``SGD`` (rewriting ``step``) or define a new
class when the bug is in ``__init__`` or in where the velocity lives. The notebook
fixes the rule ``v = momentum * v - lr * grad; w = w + v`` and the layout of
``self.velocity`` (a list of dicts like ``parameters``), so the checks read both.
"""

from mlpcourse.quality.catalogue.entry import equivalent, mutant


def _step(body, init="""        if not self.velocity:
            self.velocity = [{'w': np.zeros_like(p['w']), 'b': np.zeros_like(p['b'])} for p in parameters]
"""):
    """A subclass of the master's SGD whose ``step`` runs ``init`` then ``body``."""
    return f'''
class SGD(SGD):
    def step(self, parameters, grads):
{init}{body}
'''


MUTANTS = [
    mutant("sgd", "sgd_velocity_reset", "creates zero velocities at every call: momentum never builds up", _step("""
        Updated_parameters = []
        for p, g, v in zip(parameters, grads, self.velocity):
            for key in ('w', 'b'):
                v[key] = self.momentum * v[key] - self.lr * g[key]
            Updated_parameters.append({'w': p['w'] + v['w'], 'b': p['b'] + v['b']})
        return Updated_parameters""", init="""        self.velocity = [{'w': np.zeros_like(p['w']), 'b': np.zeros_like(p['b'])} for p in parameters]
""")),
    mutant("sgd", "sgd_aliased_velocity", "[{'w': 0, 'b': 0}] * L: one velocity dict shared by every layer", _step("""
        Updated_parameters = []
        for p, g, v in zip(parameters, grads, self.velocity):
            for key in ('w', 'b'):
                v[key] = self.momentum * v[key] - self.lr * g[key]
            Updated_parameters.append({'w': p['w'] + v['w'], 'b': p['b'] + v['b']})
        return Updated_parameters""", init="""        if not self.velocity:
            self.velocity = [{'w': 0.0, 'b': 0.0}] * len(parameters)
""")),
    mutant("sgd", "sgd_wrong_sign", "v = momentum * v + lr * grad: climbs the loss", _step("""
        Updated_parameters = []
        for p, g, v in zip(parameters, grads, self.velocity):
            for key in ('w', 'b'):
                v[key] = self.momentum * v[key] + self.lr * g[key]
            Updated_parameters.append({'w': p['w'] + v['w'], 'b': p['b'] + v['b']})
        return Updated_parameters""")),
    mutant("sgd", "sgd_biases_not_updated", "updates the weights only; biases are returned unchanged", _step("""
        Updated_parameters = []
        for p, g, v in zip(parameters, grads, self.velocity):
            v['w'] = self.momentum * v['w'] - self.lr * g['w']
            Updated_parameters.append({'w': p['w'] + v['w'], 'b': p['b']})
        return Updated_parameters""")),
    mutant("sgd", "sgd_momentum_biases_only", "momentum on the biases only; weights take a plain gradient step", _step("""
        Updated_parameters = []
        for p, g, v in zip(parameters, grads, self.velocity):
            v['b'] = self.momentum * v['b'] - self.lr * g['b']
            v['w'] = -self.lr * g['w']
            Updated_parameters.append({'w': p['w'] - self.lr * g['w'], 'b': p['b'] + v['b']})
        return Updated_parameters""")),
    mutant("sgd", "sgd_lr_twice", "applies the learning rate twice: w = w + lr * v", _step("""
        Updated_parameters = []
        for p, g, v in zip(parameters, grads, self.velocity):
            for key in ('w', 'b'):
                v[key] = self.momentum * v[key] - self.lr * g[key]
            Updated_parameters.append({'w': p['w'] + self.lr * v['w'], 'b': p['b'] + self.lr * v['b']})
        return Updated_parameters""")),
    mutant("sgd", "sgd_mutates_grads", "scales the gradients in place (g *= lr)", _step("""
        Updated_parameters = []
        for p, g, v in zip(parameters, grads, self.velocity):
            for key in ('w', 'b'):
                g[key] *= self.lr
                v[key] = self.momentum * v[key] - g[key]
            Updated_parameters.append({'w': p['w'] + v['w'], 'b': p['b'] + v['b']})
        return Updated_parameters""")),
    mutant("sgd", "sgd_class_level_velocity", "velocity = [] on the class: every optimiser shares it", """
        class SGD:
            velocity = []

            def __init__(self, lr=0.01, momentum=0.9):
                self.lr = lr
                self.momentum = momentum

            def step(self, parameters, grads):
                if not self.velocity:
                    for p in parameters:
                        self.velocity.append({'w': np.zeros_like(p['w']), 'b': np.zeros_like(p['b'])})
                Updated_parameters = []
                for p, g, v in zip(parameters, grads, self.velocity):
                    for key in ('w', 'b'):
                        v[key] = self.momentum * v[key] - self.lr * g[key]
                    Updated_parameters.append({'w': p['w'] + v['w'], 'b': p['b'] + v['b']})
                return Updated_parameters
    """),
    mutant("sgd", "sgd_module_level_velocity", "velocities kept in a module-level dict keyed by layer index", """
        VELOCITIES = {}

        class SGD(SGD):
            def step(self, parameters, grads):
                Updated_parameters = []
                for l, (p, g) in enumerate(zip(parameters, grads)):
                    v = VELOCITIES.setdefault(l, {'w': np.zeros_like(p['w']), 'b': np.zeros_like(p['b'])})
                    for key in ('w', 'b'):
                        v[key] = self.momentum * v[key] - self.lr * g[key]
                    Updated_parameters.append({'w': p['w'] + v['w'], 'b': p['b'] + v['b']})
                self.velocity = [VELOCITIES[l] for l in range(len(parameters))]
                return Updated_parameters
    """),
    mutant("sgd", "sgd_update_before_velocity", "moves w with the old velocity, then updates v", _step("""
        Updated_parameters = []
        for p, g, v in zip(parameters, grads, self.velocity):
            Updated_parameters.append({'w': p['w'] + v['w'], 'b': p['b'] + v['b']})
            for key in ('w', 'b'):
                v[key] = self.momentum * v[key] - self.lr * g[key]
        return Updated_parameters""")),
    mutant("sgd", "sgd_ignores_momentum", "plain gradient descent: the momentum term is left out", _step("""
        Updated_parameters = []
        for p, g, v in zip(parameters, grads, self.velocity):
            for key in ('w', 'b'):
                v[key] = -self.lr * g[key]
            Updated_parameters.append({'w': p['w'] + v['w'], 'b': p['b'] + v['b']})
        return Updated_parameters""")),
    mutant("sgd", "sgd_returns_none", "updates the parameters in place but returns nothing", _step("""
        for p, g, v in zip(parameters, grads, self.velocity):
            for key in ('w', 'b'):
                v[key] = self.momentum * v[key] - self.lr * g[key]
                p[key] += v[key]""")),
    mutant("sgd", "sgd_velocity_is_grads", "starts from self.velocity = grads: the velocity dicts are the caller's grads", _step("""
        Updated_parameters = []
        for p, g, v in zip(parameters, grads, self.velocity):
            for key in ('w', 'b'):
                v[key] = self.momentum * v[key] - self.lr * g[key]
            Updated_parameters.append({'w': p['w'] + v['w'], 'b': p['b'] + v['b']})
        return Updated_parameters""", init="""        if not self.velocity:
            self.velocity = grads
""")),
    mutant("sgd", "sgd_dampened", "dampened momentum: v = momentum * v - (1 - momentum) * lr * grad", _step("""
        Updated_parameters = []
        for p, g, v in zip(parameters, grads, self.velocity):
            for key in ('w', 'b'):
                v[key] = self.momentum * v[key] - (1 - self.momentum) * self.lr * g[key]
            Updated_parameters.append({'w': p['w'] + v['w'], 'b': p['b'] + v['b']})
        return Updated_parameters""")),
    mutant("sgd", "sgd_nesterov", "Nesterov's look-ahead step instead of the notebook's rule", _step("""
        Updated_parameters = []
        for p, g, v in zip(parameters, grads, self.velocity):
            for key in ('w', 'b'):
                v[key] = self.momentum * v[key] - self.lr * g[key]
            Updated_parameters.append({key: p[key] + self.momentum * v[key] - self.lr * g[key] for key in ('w', 'b')})
        return Updated_parameters""")),
    mutant("sgd", "sgd_skips_last_layer", "loops over range(len(parameters) - 1): the last layer never moves", _step("""
        Updated_parameters = [dict(p) for p in parameters]
        for l in range(len(parameters) - 1):
            for key in ('w', 'b'):
                self.velocity[l][key] = self.momentum * self.velocity[l][key] - self.lr * grads[l][key]
                Updated_parameters[l][key] = parameters[l][key] + self.velocity[l][key]
        return Updated_parameters""")),
    mutant("sgd", "sgd_velocity_keyed_by_shape", "velocities kept by array shape: layers of equal shape share one", """
        class SGD(SGD):
            def step(self, parameters, grads):
                if not hasattr(self, 'by_shape'):
                    self.by_shape = {}
                self.velocity = []
                Updated_parameters = []
                for p, g in zip(parameters, grads):
                    v = {}
                    for key in ('w', 'b'):
                        shape = p[key].shape
                        self.by_shape[shape] = self.momentum * self.by_shape.get(shape, 0.0) - self.lr * g[key]
                        v[key] = self.by_shape[shape]
                    self.velocity.append(v)
                    Updated_parameters.append({'w': p['w'] + v['w'], 'b': p['b'] + v['b']})
                return Updated_parameters
    """),
]

EQUIVALENTS = [
    equivalent("sgd", "sgd_inplace_returns", "updates the given parameter arrays in place and returns them", _step("""
        for p, g, v in zip(parameters, grads, self.velocity):
            for key in ('w', 'b'):
                v[key] = self.momentum * v[key] - self.lr * g[key]
                p[key] += v[key]
        return parameters""")),
    equivalent("sgd", "sgd_inplace_velocity", "in-place velocity arithmetic: v *= momentum; v -= lr * g", _step("""
        new_parameters = []
        for l, p in enumerate(parameters):
            v = self.velocity[l]
            v['w'] *= self.momentum
            v['w'] -= self.lr * grads[l]['w']
            v['b'] *= self.momentum
            v['b'] -= self.lr * grads[l]['b']
            new_parameters.append({'w': p['w'] + v['w'], 'b': p['b'] + v['b']})
        return new_parameters""")),
    equivalent("sgd", "sgd_layer_by_layer_init", "creates each layer's velocity when it first sees that layer", _step("""
        result = []
        for l, (p, g) in enumerate(zip(parameters, grads)):
            if len(self.velocity) <= l:
                self.velocity.append({key: np.zeros(np.shape(p[key])) for key in ('w', 'b')})
            v = self.velocity[l]
            v['w'] = self.momentum * v['w'] - self.lr * g['w']
            v['b'] = self.momentum * v['b'] - self.lr * g['b']
            result.append({'w': p['w'] + v['w'], 'b': p['b'] + v['b']})
        return result""", init="")),
    equivalent("sgd", "sgd_first_step_plain", "first call sets v = -lr * grad directly (the same as from zeros)", _step("""
        if not self.velocity:
            self.velocity = [{key: -self.lr * g[key] for key in ('w', 'b')} for g in grads]
        else:
            self.velocity = [{key: self.momentum * v[key] - self.lr * g[key] for key in ('w', 'b')}
                             for v, g in zip(self.velocity, grads)]
        return [{key: p[key] + v[key] for key in ('w', 'b')} for p, v in zip(parameters, self.velocity)]""",
        init="")),
    equivalent("sgd", "sgd_deepcopy", "deep-copies the parameters, then adds the velocity in place", """
        import copy

        class SGD(SGD):
            def step(self, parameters, grads):
                if len(self.velocity) != len(parameters):
                    self.velocity = [{'w': np.zeros_like(p['w']), 'b': np.zeros_like(p['b'])} for p in parameters]
                updated = copy.deepcopy(parameters)
                for l in range(len(parameters)):
                    for key in ('w', 'b'):
                        self.velocity[l][key] = self.momentum * self.velocity[l][key] - self.lr * grads[l][key]
                        updated[l][key] += self.velocity[l][key]
                return updated
    """),
]

ENTRIES = MUTANTS + EQUIVALENTS
