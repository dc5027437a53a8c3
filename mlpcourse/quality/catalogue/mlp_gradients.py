"""Rewrites of ``mlp_gradients`` (solution cell ``mlp_gradients``).

Most sources are the master's loop with one line changed; the master keeps
``activations = [x] + mlp.activations`` (the input of each layer) before the loop.
"""

from mlpcourse.quality.catalogue.entry import equivalent, mutant


def _backprop(body, before="", after="    return gradients"):
    """An ``mlp_gradients`` source around a loop ``body`` (indented 8 spaces)."""
    return f'''
def mlp_gradients(mlp, loss_function, x, y):
    gradients = []
    y_hat = mlp.activations[-1]
    num_layers = len(mlp.parameters)
    g = loss_function(y, y_hat, return_grad=True)
    activations = [x] + mlp.activations
{before}    for i in reversed(range(num_layers)):
{body}
{after}
'''


MUTANTS = [
    mutant("mlp_gradients", "mlp_gradients_no_activation_derivative", "delta = g: the activation derivative is missing", _backprop("""
        delta = g
        gradients.insert(0, {'w': activations[i].T @ delta, 'b': np.sum(delta, axis=0)})
        g = delta @ mlp.parameters[i]['w'].T""")),
    mutant("mlp_gradients", "mlp_gradients_bias_not_summed", "db = delta, shape (N, p): the bias gradient is not summed", _backprop("""
        delta = g * mlp.act_funcs[i](mlp.weighted_ins[i], deriv=True)
        gradients.insert(0, {'w': activations[i].T @ delta, 'b': delta})
        g = delta @ mlp.parameters[i]['w'].T""")),
    mutant("mlp_gradients", "mlp_gradients_bias_mean", "db = mean of delta: divides by N a second time", _backprop("""
        delta = g * mlp.act_funcs[i](mlp.weighted_ins[i], deriv=True)
        gradients.insert(0, {'w': activations[i].T @ delta, 'b': np.mean(delta, axis=0)})
        g = delta @ mlp.parameters[i]['w'].T""")),
    mutant("mlp_gradients", "mlp_gradients_weights_divided_by_batch", "dw divided by N although the loss gradient has 1/N", _backprop("""
        delta = g * mlp.act_funcs[i](mlp.weighted_ins[i], deriv=True)
        gradients.insert(0, {'w': activations[i].T @ delta / len(x), 'b': np.sum(delta, axis=0)})
        g = delta @ mlp.parameters[i]['w'].T""")),
    mutant("mlp_gradients", "mlp_gradients_reversed_order", "appends while walking backwards: last layer first", _backprop("""
        delta = g * mlp.act_funcs[i](mlp.weighted_ins[i], deriv=True)
        gradients.append({'w': activations[i].T @ delta, 'b': np.sum(delta, axis=0)})
        g = delta @ mlp.parameters[i]['w'].T""")),
    mutant("mlp_gradients", "mlp_gradients_own_activation", "dw from the layer's own output A_i instead of its input A_(i-1)", _backprop("""
        delta = g * mlp.act_funcs[i](mlp.weighted_ins[i], deriv=True)
        gradients.insert(0, {'w': mlp.activations[i].T @ delta, 'b': np.sum(delta, axis=0)})
        g = delta @ mlp.parameters[i]['w'].T""")),
    mutant("mlp_gradients", "mlp_gradients_derivative_of_activation", "derivative of the wrong argument: f'(A) instead of f'(Z)", _backprop("""
        delta = g * mlp.act_funcs[i](mlp.activations[i], deriv=True)
        gradients.insert(0, {'w': activations[i].T @ delta, 'b': np.sum(delta, axis=0)})
        g = delta @ mlp.parameters[i]['w'].T""")),
    mutant("mlp_gradients", "mlp_gradients_propagates_g", "passes g @ w.T down instead of delta @ w.T", _backprop("""
        delta = g * mlp.act_funcs[i](mlp.weighted_ins[i], deriv=True)
        gradients.insert(0, {'w': activations[i].T @ delta, 'b': np.sum(delta, axis=0)})
        g = g @ mlp.parameters[i]['w'].T""")),
    mutant("mlp_gradients", "mlp_gradients_missing_transpose", "g = delta @ w: the transpose of w is missing", _backprop("""
        delta = g * mlp.act_funcs[i](mlp.weighted_ins[i], deriv=True)
        gradients.insert(0, {'w': activations[i].T @ delta, 'b': np.sum(delta, axis=0)})
        g = delta @ mlp.parameters[i]['w']""")),
    mutant("mlp_gradients", "mlp_gradients_transposed_dw", "dw = delta.T @ A_prev: shape (p, n) instead of (n, p)", _backprop("""
        delta = g * mlp.act_funcs[i](mlp.weighted_ins[i], deriv=True)
        gradients.insert(0, {'w': delta.T @ activations[i], 'b': np.sum(delta, axis=0)})
        g = delta @ mlp.parameters[i]['w'].T""")),
    mutant("mlp_gradients", "mlp_gradients_hardcoded_loss",
           "ignores loss_function: hard-codes dL/dy_hat = (y_hat - y) / N", """
        def mlp_gradients(mlp, loss_function, x, y):
            gradients = []
            y_hat = mlp.activations[-1]
            g = (y_hat - y) / len(y)
            activations = [x] + mlp.activations
            for i in reversed(range(len(mlp.parameters))):
                delta = g * mlp.act_funcs[i](mlp.weighted_ins[i], deriv=True)
                gradients.insert(0, {'w': activations[i].T @ delta, 'b': np.sum(delta, axis=0)})
                g = delta @ mlp.parameters[i]['w'].T
            return gradients
    """),
    mutant("mlp_gradients", "mlp_gradients_loss_gradient_divided", "divides the loss gradient by N again", _backprop("""
        delta = g * mlp.act_funcs[i](mlp.weighted_ins[i], deriv=True)
        gradients.insert(0, {'w': activations[i].T @ delta, 'b': np.sum(delta, axis=0)})
        g = delta @ mlp.parameters[i]['w'].T""", before="    g = g / len(x)\n")),
    mutant("mlp_gradients", "mlp_gradients_loss_arguments_swapped", "calls loss_function(y_hat, y): the gradient's sign flips", """
        def mlp_gradients(mlp, loss_function, x, y):
            gradients = []
            g = loss_function(mlp.activations[-1], y, return_grad=True)
            activations = [x] + mlp.activations
            for i in reversed(range(len(mlp.parameters))):
                delta = g * mlp.act_funcs[i](mlp.weighted_ins[i], deriv=True)
                gradients.insert(0, {'w': activations[i].T @ delta, 'b': np.sum(delta, axis=0)})
                g = delta @ mlp.parameters[i]['w'].T
            return gradients
    """),
    mutant("mlp_gradients", "mlp_gradients_output_layer_special",
           "output layer written out with mlp.activations[-2]: a one-layer net has none", """
        def mlp_gradients(mlp, loss_function, x, y):
            num_layers = len(mlp.parameters)
            g = loss_function(y, mlp.activations[-1], return_grad=True)
            delta = g * mlp.act_funcs[-1](mlp.weighted_ins[-1], deriv=True)
            gradients = [{'w': mlp.activations[-2].T @ delta, 'b': delta.sum(axis=0)}]
            g = delta @ mlp.parameters[-1]['w'].T
            for i in reversed(range(num_layers - 1)):
                delta = g * mlp.act_funcs[i](mlp.weighted_ins[i], deriv=True)
                a_prev = x if i == 0 else mlp.activations[i - 1]
                gradients.insert(0, {'w': a_prev.T @ delta, 'b': delta.sum(axis=0)})
                g = delta @ mlp.parameters[i]['w'].T
            return gradients
    """),
    mutant("mlp_gradients", "mlp_gradients_output_without_derivative",
           "no activation derivative at the output layer (right only for a linear output)", _backprop("""
        f_prime = 1.0 if i == num_layers - 1 else mlp.act_funcs[i](mlp.weighted_ins[i], deriv=True)
        delta = g * f_prime
        gradients.insert(0, {'w': activations[i].T @ delta, 'b': np.sum(delta, axis=0)})
        g = delta @ mlp.parameters[i]['w'].T""")),
    mutant("mlp_gradients", "mlp_gradients_updates_parameters",
           "takes a gradient step on mlp.parameters while computing the gradients", _backprop("""
        delta = g * mlp.act_funcs[i](mlp.weighted_ins[i], deriv=True)
        gradients.insert(0, {'w': activations[i].T @ delta, 'b': np.sum(delta, axis=0)})
        g = delta @ mlp.parameters[i]['w'].T
        mlp.parameters[i]['w'] -= 0.01 * gradients[0]['w']
        mlp.parameters[i]['b'] -= 0.01 * gradients[0]['b']""")),
    mutant("mlp_gradients", "mlp_gradients_activation_off_by_one", "uses act_funcs[i - 1]: the previous layer's activation", _backprop("""
        delta = g * mlp.act_funcs[i - 1](mlp.weighted_ins[i], deriv=True)
        gradients.insert(0, {'w': activations[i].T @ delta, 'b': np.sum(delta, axis=0)})
        g = delta @ mlp.parameters[i]['w'].T""")),
    mutant("mlp_gradients", "mlp_gradients_squeeze", "squeezes the loss gradient: a batch of one loses its row axis", _backprop("""
        delta = g * mlp.act_funcs[i](mlp.weighted_ins[i], deriv=True)
        gradients.insert(0, {'w': activations[i].T @ delta, 'b': np.sum(delta, axis=0)})
        g = delta @ mlp.parameters[i]['w'].T""", before="    g = np.squeeze(g)\n")),
    mutant("mlp_gradients", "mlp_gradients_x_for_every_layer", "dw = x.T @ delta for every layer", _backprop("""
        delta = g * mlp.act_funcs[i](mlp.weighted_ins[i], deriv=True)
        gradients.insert(0, {'w': x.T @ delta, 'b': np.sum(delta, axis=0)})
        g = delta @ mlp.parameters[i]['w'].T""")),
    mutant("mlp_gradients", "mlp_gradients_weights_off_by_one", "propagates through the weights of layer i - 1", _backprop("""
        delta = g * mlp.act_funcs[i](mlp.weighted_ins[i], deriv=True)
        gradients.insert(0, {'w': activations[i].T @ delta, 'b': np.sum(delta, axis=0)})
        g = delta @ mlp.parameters[i - 1]['w'].T""")),
    mutant("mlp_gradients", "mlp_gradients_reused_dict", "fills one dict for every layer: all entries alias the same dict", """
        def mlp_gradients(mlp, loss_function, x, y):
            gradients = []
            layer_grad = {}
            g = loss_function(y, mlp.activations[-1], return_grad=True)
            activations = [x] + mlp.activations
            for i in reversed(range(len(mlp.parameters))):
                delta = g * mlp.act_funcs[i](mlp.weighted_ins[i], deriv=True)
                layer_grad['w'] = activations[i].T @ delta
                layer_grad['b'] = np.sum(delta, axis=0)
                gradients.insert(0, layer_grad)
                g = delta @ mlp.parameters[i]['w'].T
            return gradients
    """),
]

EQUIVALENTS = [
    equivalent("mlp_gradients", "mlp_gradients_calls_feed_forward", "runs mlp.feed_forward(x) itself before backprop", """
        def mlp_gradients(mlp, loss_function, x, y):
            y_hat = mlp.feed_forward(x)
            g = loss_function(y, y_hat, return_grad=True)
            gradients = [None] * len(mlp.parameters)
            for i in reversed(range(len(mlp.parameters))):
                delta = g * mlp.act_funcs[i](mlp.weighted_ins[i], deriv=True)
                a_prev = mlp.activations[i - 1] if i > 0 else x
                gradients[i] = {'w': a_prev.T @ delta, 'b': delta.sum(axis=0)}
                g = delta @ mlp.parameters[i]['w'].T
            return gradients
    """),
    equivalent("mlp_gradients", "mlp_gradients_append_then_reverse", "appends while walking backwards, then reverses the list", _backprop("""
        delta = np.multiply(g, mlp.act_funcs[i](mlp.weighted_ins[i], deriv=True))
        gradients.append({'w': np.dot(activations[i].T, delta), 'b': delta.sum(0)})
        g = np.dot(delta, mlp.parameters[i]['w'].T)""", after="    gradients.reverse()\n    return gradients")),
    equivalent("mlp_gradients", "mlp_gradients_einsum", "np.einsum for dw and for the propagated gradient", _backprop("""
        delta = g * mlp.act_funcs[i](mlp.weighted_ins[i], deriv=True)
        dw = np.einsum('nd,np->dp', activations[i], delta)
        gradients.insert(0, {'w': dw, 'b': np.einsum('np->p', delta)})
        g = np.einsum('np,dp->nd', delta, mlp.parameters[i]['w'])""")),
    equivalent("mlp_gradients", "mlp_gradients_recomputes_weighted_in",
               "recomputes Z = A_prev @ w + b instead of reading weighted_ins", _backprop("""
        z = activations[i] @ mlp.parameters[i]['w'] + mlp.parameters[i]['b']
        delta = g * mlp.act_funcs[i](z, deriv=True)
        gradients.insert(0, {'w': activations[i].T @ delta, 'b': np.sum(delta, axis=0)})
        g = delta @ mlp.parameters[i]['w'].T""")),
    equivalent("mlp_gradients", "mlp_gradients_example_loop", "accumulates dw and db one example at a time with np.outer", """
        def mlp_gradients(mlp, loss_function, x, y):
            g_all = loss_function(y, mlp.activations[-1], return_grad=True)
            gradients = [{'w': np.zeros(p['w'].shape), 'b': np.zeros(p['b'].shape)} for p in mlp.parameters]
            for n in range(x.shape[0]):
                g = g_all[n]
                for i in reversed(range(len(mlp.parameters))):
                    delta = g * mlp.act_funcs[i](mlp.weighted_ins[i][n], deriv=True)
                    a_prev = x[n] if i == 0 else mlp.activations[i - 1][n]
                    gradients[i]['w'] += np.outer(a_prev, delta)
                    gradients[i]['b'] += delta
                    g = mlp.parameters[i]['w'] @ delta
            return gradients
    """, per_sample_loop=True),
    equivalent("mlp_gradients", "mlp_gradients_while_loop", "a while loop from the last layer down, with dw = (delta.T @ A).T", """
        def mlp_gradients(mlp, loss_function, x, y):
            inputs = [x, *mlp.activations[:-1]]
            g = loss_function(y, mlp.activations[-1], return_grad=True)
            gradients = []
            i = len(mlp.parameters) - 1
            while i >= 0:
                delta = g * mlp.act_funcs[i](mlp.weighted_ins[i], deriv=True)
                gradients = [{'w': (delta.T @ inputs[i]).T, 'b': delta.sum(axis=0)}] + gradients
                g = delta @ mlp.parameters[i]['w'].T
                i -= 1
            return gradients
    """),
]

ENTRIES = MUTANTS + EQUIVALENTS
