"""glassnet's nets as scikit-learn estimators: scikit-learn's own estimator checks, and the
places users put estimators (Pipeline, GridSearchCV, cross_val_score, pickle)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_digits, load_iris
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from glassnet.sklearn import NeuralClassifier, NeuralImageClassifier, NeuralRegressor

pytestmark = pytest.mark.xdist_group("sklearn")


# Every check passes (none is marked as expected to fail); 8 epochs keep them quick.
@pytest.mark.slow  # ~100 checks, each a small fit: kept out of the 15-minute default suite
@parametrize_with_checks([NeuralClassifier(epochs=8), NeuralRegressor(epochs=8)])
def test_sklearn_estimator_checks(estimator, check) -> None:  # noqa: ANN001
    check(estimator)


def test_classifier_in_a_pipeline_and_cross_validation() -> None:
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]  # string labels come back
    scores = cross_val_score(make_pipeline(StandardScaler(), NeuralClassifier()), X, names, cv=3)
    assert scores.mean() > 0.85, scores
    model = NeuralClassifier().fit(X, names)
    assert set(model.predict(X[:10])) <= set(names) and model.classes_.tolist() == sorted(
        set(names)
    )
    proba = model.predict_proba(X[:5])
    assert proba.shape == (5, 3) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    again = pickle.loads(pickle.dumps(model))  # the run's files travel as bytes
    assert np.array_equal(again.predict_proba(X), model.predict_proba(X))
    assert model.run_.task.name == "tabular"  # the glassnet run, to explain or export


def test_regressor_in_a_grid_search() -> None:
    X, y = load_diabetes(return_X_y=True)
    search = GridSearchCV(NeuralRegressor(), {"hidden": [(16,), (64, 32)]}, cv=2)
    search.fit(X[:300], y[:300])
    assert search.best_params_["hidden"] in [(16,), (64, 32)]
    assert search.score(X[300:], y[300:]) > 0.3  # R^2; a linear model gets about 0.5
    assert search.best_estimator_.get_params()["hidden"] == search.best_params_["hidden"]


def test_bad_input_is_refused_as_sklearn_does() -> None:
    X, y = load_iris(return_X_y=True)
    model = NeuralClassifier(epochs=2).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features"):
        model.predict(X[:, :3])
    with pytest.raises(ValueError, match="at least 2 classes"):
        NeuralClassifier().fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="Unknown label type"):
        NeuralClassifier().fit(X, np.linspace(0, 1, len(X)))


def test_image_classifier_over_arrays() -> None:
    digits = load_digits()
    X, y = digits.images[:800], digits.target[:800]  # (N, 8, 8) numbers 0..16
    scores = cross_val_score(NeuralImageClassifier(epochs=4), X, y, cv=2)
    assert scores.mean() > 0.75, scores  # chance is 0.1
    model = NeuralImageClassifier(epochs=2).fit(X[:400], y[:400])
    again = pickle.loads(pickle.dumps(model))
    assert np.array_equal(again.predict(X[400:420]), model.predict(X[400:420]))
    assert model.predict_proba(X[:3]).shape == (3, 10)
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        model.predict(X.reshape(len(X), -1))
    with pytest.raises(ValueError, match="fit saw"):
        model.predict(np.zeros((2, 9, 9)))
