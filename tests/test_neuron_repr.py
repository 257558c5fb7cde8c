"""``repr(Neuron)``: the loss, the feature count, standardized or not, the first weights."""

import numpy as np

import streamneuron as sn


def test_repr_names_loss_features_standardization_and_first_weights():
    model = sn.Neuron(6, loss="mse", standardize=(np.zeros(6), np.ones(6)))
    model.weights[:] = [0.5, -1.25, 3e-7, 12345.678, 9.0, 10.0]
    model.bias = -0.125
    text = repr(model)
    assert text == ("Neuron(loss='mse', n_features=6, standardized, "
                    "weights=[0.5, -1.25, 3e-07, 1.235e+04, ... (+2)], bias=-0.125)")


def test_repr_of_a_small_unstandardized_model_shows_every_weight():
    model = sn.Neuron(2)
    model.weights[:] = [1.0, -2.0]
    assert repr(model) == ("Neuron(loss='log', n_features=2, not standardized, "
                           "weights=[1, -2], bias=0)")
