"""The same PlainNet MLP trained by Keras 3 (TensorFlow backend); run by bench_train.py.

Runs in its own environment, never a plainnet dependency (`make keras` builds .venv-keras):

    .venv-keras/bin/python benchmarks/keras_reference.py '{"depth": 100, "jit": true, ...}'

Prints one JSON line: training samples/s over epochs 2.. (epoch 1 traces and compiles).
The model is the paper's: Dense (no bias, `HeUniform` = eq. 3, `MaxNorm(c, axis=0)` = eq. 2
on each unit's incoming weights) -> BatchNormalization (PyTorch's momentum and epsilon) ->
LeakyReLU(beta) (eq. 1), then a Dense head; SGD with momentum, a test pass per epoch.
"""

import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402


def main(a: dict) -> dict:
    keras.utils.set_random_seed(0)
    layers = [keras.Input((a["in_features"],))]
    for _ in range(a["depth"] - 1):
        layers += [
            keras.layers.Dense(
                a["width"],
                use_bias=False,
                kernel_initializer=keras.initializers.HeUniform(),
                kernel_constraint=keras.constraints.MaxNorm(a["c"], axis=0),
            ),
            keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5),
            keras.layers.LeakyReLU(negative_slope=a["beta"]),
        ]
    model = keras.Sequential([*layers, keras.layers.Dense(10)])
    model.compile(
        optimizer=keras.optimizers.SGD(a["lr"], momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=a["jit"],
    )
    rng = np.random.default_rng(0)
    n = a["batch"] * a["steps"]
    x = rng.standard_normal((n, a["in_features"]), dtype=np.float32)
    xt = rng.standard_normal((a["n_test"], a["in_features"]), dtype=np.float32)
    y, yt = np.arange(n) % 10, np.arange(a["n_test"]) % 10

    times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):  # after the validation pass
            times.append(time.perf_counter() - self.t0)

    model.fit(
        x,
        y,
        batch_size=a["batch"],
        epochs=a["epochs"],
        validation_data=(xt, yt),
        shuffle=True,
        verbose=0,
        callbacks=[Timer()],
    )
    return dict(samples_per_s=n * (len(times) - 1) / sum(times[1:]), keras=keras.__version__)


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
