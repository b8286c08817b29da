"""The library: torch and numpy only. Models (one registry), the inits (eq. 3), the max-norm
constraint (eq. 2), BatchNorm tools, the correlation map and the depth diagnostics. It imports
no other layer of plainnet."""

from plainnet import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "models": "PlainBlock PlainNet build_model hidden_weights plain_cnn plain_mlp resnet "
        "register_model",
        "init": "he_uniform_ delta_orthogonal_ delta_orthogonal_widen_ init_weights_",
        "constraints": "MaxNorm max_norm_ unit_norms",
        "norms": "recalibrate_",
        "correlation": "resolve_beta",
        "diagnostics": "probe",
        "lars": "LARS",
        "speed": "flush_denormals",
    },
)
