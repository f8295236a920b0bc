"""The analysis package: looking inside a trained network.

    activations   hidden activation patterns per digit, dead/saturated units, their heat map
    saliency_maps gradient of a class score with respect to the pixels, and its maps
    demo          draw a digit with the mouse and watch the network classify it (python -m analysis.demo)
    __main__      python -m analysis: the activation and saliency figures of a saved model

    from analysis import activation_patterns, saliency

Names are loaded lazily, so `python -m analysis --help` does not import matplotlib or the kernels.
"""

__all__ = ["hidden_activations", "activation_patterns", "plot_activation_patterns", "INACTIVE_CRITERIA",
           "saliency", "plot_saliency"]


def __getattr__(name):
    if name in ("hidden_activations", "activation_patterns", "plot_activation_patterns", "INACTIVE_CRITERIA"):
        from analysis import activations
        return getattr(activations, name)
    if name in ("saliency", "plot_saliency"):
        from analysis import saliency_maps
        return getattr(saliency_maps, name)
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")
