"""LinearRegression, LinearSVM, and the CoCoA+ solver (also in LogisticRegression): against
scikit-learn on small data, across partition counts, bad input, and real data."""
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import ElasticNet, Lasso, Ridge
from sklearn.linear_model import LinearRegression as SkLinear
from sklearn.svm import SVC

import mli
from _real_data import mnist, sms_spam
from mli.algorithms import LinearRegression, LinearSVM, LogisticRegression
from mli.optimize import HingeLoss, LogisticLoss, Objective, SquaredLoss, minimize
from mli.optimize.cocoa import CoCoA
from mli.optimize.cocoa_kernels import coordinate_step


# ---------------------------------------------------------------------------- CoCoA (no Spark)


@pytest.fixture(scope="module")
def binary():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((400, 5)) + 0.3
    y = (X @ rng.standard_normal(5) + 0.5 * rng.standard_normal(400) > 0.2).astype(float)
    return X, y


def _parts(X, y, k):
    return [(X[p], y[p]) for p in np.array_split(np.arange(len(y)), k)]


def test_cocoa_hinge_equals_svc(binary):
    X, y = binary
    reg = 0.02
    sk = SVC(kernel="linear", C=1 / (reg * len(y)), tol=1e-12).fit(X, y)
    for k, tol in ((1, 1e-9), (3, 1e-8)):
        obj = Objective(_parts(X, y, k), HingeLoss(), reg=reg)
        res = CoCoA(max_iter=3000, tol=tol).minimize(obj)
        w, b = obj.unpack(res.x)
        assert res.converged
        np.testing.assert_allclose(w, sk.coef_.ravel(), rtol=1e-4 if k == 1 else 1e-3)
        np.testing.assert_allclose(b, sk.intercept_[0], rtol=1e-4 if k == 1 else 1e-3)


@pytest.mark.parametrize("loss, l1_ratio", [(LogisticLoss(), 0.5), (SquaredLoss(), 0.7)])
def test_cocoa_reaches_the_optimum(binary, loss, l1_ratio):
    X, y = binary
    blocks = _parts(X, y, 2)
    ref = minimize(loss, blocks, reg=0.02, l1_ratio=l1_ratio, tol=1e-11, max_iter=2000,
                   method="owlqn" if l1_ratio else "lbfgs")
    res = minimize(loss, blocks, reg=0.02, l1_ratio=l1_ratio, tol=1e-8, max_iter=3000,
                   method="cocoa")
    assert res.converged and res.fun <= ref.fun + 1e-9
    np.testing.assert_allclose(res.x, ref.x, atol=1e-4)
    if l1_ratio:  # the soft threshold gives exact zeros where OWL-QN does
        np.testing.assert_array_equal(res.x[:-1] == 0, ref.x[:-1] == 0)


def test_cocoa_add_and_average_sparse_and_dense(binary):
    X, y = binary
    dense = Objective(_parts(X, y, 2), HingeLoss(), reg=0.05)
    sparse = Objective([(sp.csr_matrix(A), b) for A, b in _parts(X, y, 2)], HingeLoss(), reg=0.05)
    a = CoCoA(max_iter=20, tol=0).minimize(dense)
    b = CoCoA(max_iter=20, tol=0).minimize(sparse)
    np.testing.assert_allclose(a.x, b.x, rtol=1e-10)  # same kernel, same coordinate order
    avg = CoCoA(max_iter=20, tol=0, combine="average").minimize(dense)
    assert avg.fun < a.history[0][1] and a.n_passes == 22  # 20 rounds + norms + final value


def test_coordinate_steps_solve_their_subproblems():
    # logistic: log((1 - b') / b') - s m - q (b' - b) = 0 at the new dual value b' = a' s
    for y, a, m, q in [(1.0, 0.3, 0.5, 2.0), (0.0, -0.9, -3.0, 0.1), (1.0, 0.0, 20.0, 1e-3)]:
        s = 1.0 if y > 0 else -1.0
        nb = (a + coordinate_step(1, y, a, m, q)) * s
        assert 0 < nb < 1
        assert abs(np.log((1 - nb) / nb) - s * m - q * (nb - a * s)) < 1e-8
    # hinge: clipped to [0, 1]; squared: closed form
    assert coordinate_step(0, 1.0, 0.0, -5.0, 1.0) == 1.0
    assert coordinate_step(0, 1.0, 0.5, 5.0, 1.0) == -0.5
    d = coordinate_step(2, 2.0, 0.5, 1.0, 3.0)
    assert abs(-(0.5 + d) + 2.0 - 1.0 - 3.0 * d) < 1e-12


def test_cocoa_rejects_what_it_cannot_solve(binary):
    X, y = binary
    with pytest.raises(ValueError, match="needs an L2 term"):
        CoCoA().minimize(Objective(_parts(X, y, 1), HingeLoss(), reg=0.1, l1_ratio=1.0))
    with pytest.raises(ValueError, match="combine"):
        CoCoA(combine="sum")


# ---------------------------------------------------------------------------- LinearRegression


@pytest.fixture(scope="module")
def regression(ctx):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((300, 6)) * [1, 2, 3, 1, 1, 0.5] + 5.0
    y = X @ rng.standard_normal(6) + 1.5 + 0.3 * rng.standard_normal(300)
    table = mli.MLTable.from_numpy(X, y, num_partitions=3).cache()
    yield X, y, table
    table.unpersist()


@pytest.mark.parametrize("reg, l1_ratio, sk", [
    (0.0, 0.0, lambda n: SkLinear()),
    (0.1, 0.0, lambda n: Ridge(alpha=0.1 * n)),
    (0.05, 1.0, lambda n: Lasso(alpha=0.05, tol=1e-14, max_iter=100_000)),
    (0.05, 0.5, lambda n: ElasticNet(alpha=0.05, l1_ratio=0.5, tol=1e-14, max_iter=100_000)),
])
def test_linear_regression_equals_sklearn(regression, reg, l1_ratio, sk):
    X, y, table = regression
    m = LinearRegression(reg=reg, l1_ratio=l1_ratio, tol=1e-12).fit(table, label="label")
    ref = sk(len(y)).fit(X, y)
    np.testing.assert_allclose(m.coef_, ref.coef_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(m.intercept_, ref.intercept_, rtol=1e-6)
    np.testing.assert_allclose(m.predict(X), ref.predict(X), rtol=1e-8)


def test_linear_regression_one_partition_sparse_no_intercept(ctx, regression):
    X, y, table = regression
    a = LinearRegression(reg=0.1).fit(table, label="label")
    b = LinearRegression(reg=0.1).fit(X, y)  # default partitioning (1 for this size)
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-10)
    c = LinearRegression(reg=0.1, fit_intercept=False).fit(sp.csr_matrix(X), y)
    ref = Ridge(alpha=0.1 * len(y), fit_intercept=False).fit(X, y)
    np.testing.assert_allclose(c.coef_, ref.coef_, rtol=1e-8)
    assert float(c.intercept_) == 0.0


def test_linear_regression_iterative_solver(ctx, regression):
    X, y, _ = regression
    Xc = X - X.mean(axis=0)  # well conditioned: L-BFGS converges in a few passes
    normal = LinearRegression(reg=0.1).fit(Xc, y)
    lbfgs = LinearRegression(reg=0.1, solver="lbfgs", tol=1e-9).fit(Xc, y)
    np.testing.assert_allclose(lbfgs.coef_, normal.coef_, rtol=1e-4)
    np.testing.assert_allclose(lbfgs.intercept_, normal.intercept_, rtol=1e-4)
    assert normal.coef_.shape == (6,) and np.ndim(normal.intercept_) == 0


def test_linear_regression_collinear_ols_is_min_norm(ctx):
    rng = np.random.default_rng(3)
    A = rng.standard_normal((80, 2))
    X = np.column_stack([A, A[:, 0]])  # third column = first
    y = A @ [1.0, 2.0] + 0.1 * rng.standard_normal(80)
    m = LinearRegression().fit(X, y)
    np.testing.assert_allclose(m.coef_, SkLinear().fit(X, y).coef_, rtol=1e-6)
    assert abs(m.coef_[0] - m.coef_[2]) < 1e-8


# ---------------------------------------------------------------------------- LinearSVM


def test_linear_svm_equals_svc_and_partitions_agree(ctx, binary):
    X, y = binary
    reg = 0.02
    sk = SVC(kernel="linear", C=1 / (reg * len(y)), tol=1e-12).fit(X, y)
    one = LinearSVM(reg=reg, solver="cocoa", tol=1e-9, max_iter=1000).fit(
        mli.MLTable.from_numpy(X, y, num_partitions=1), label="label")
    np.testing.assert_allclose(one.coef_, sk.coef_, rtol=1e-4)
    np.testing.assert_allclose(one.intercept_, sk.intercept_, rtol=1e-4)
    np.testing.assert_array_equal(one.predict(X), sk.predict(X))
    np.testing.assert_allclose(one.decision_function(X), sk.decision_function(X), atol=1e-4)
    two = LinearSVM(reg=reg, solver="cocoa", tol=1e-6, max_iter=1000).fit(X, y)  # local[2]: 2
    np.testing.assert_allclose(two.coef_, one.coef_, rtol=1e-3)
    # the default quasi-Newton solver (pyspark.ml's method) gets close to the optimum
    default = LinearSVM(reg=reg).fit(X, y)
    objective = Objective([(X, y)], HingeLoss(), reg=reg)
    best = objective.value(objective.pack(sk.coef_.ravel(), sk.intercept_[0]))
    assert objective.value(objective.pack(default.coef_.ravel(), default.intercept_[0])) \
        <= best * (1 + 1e-3)


def test_linear_svm_labels(ctx, binary):
    X, y = binary
    signed = LinearSVM(reg=0.05, tol=1e-3).fit(X, 2 * y - 1)
    np.testing.assert_array_equal(signed.classes_, [-1.0, 1.0])
    assert set(np.unique(signed.predict(X))) == {-1.0, 1.0}
    with pytest.raises(ValueError, match="LinearSVM supports at most 2 classes, got 3"):
        LinearSVM(reg=0.1).fit(X, np.arange(len(y)) % 3)
    with pytest.raises(ValueError, match="at least 2 classes"):
        LinearSVM(reg=0.1).fit(X, np.ones(len(y)))


def test_linear_svm_l1_and_unregularized_solvers(ctx, binary):
    X, y = binary
    Xw = np.hstack([X, np.random.default_rng(4).standard_normal((len(y), 4))])  # noise
    enet = LinearSVM(reg=0.1, l1_ratio=0.8, solver="cocoa", tol=1e-4, max_iter=50).fit(Xw, y)
    assert np.count_nonzero(enet.coef_) < Xw.shape[1]
    l1 = LinearSVM(reg=0.05, l1_ratio=1.0, max_iter=30).fit(Xw, y)  # auto: OWL-QN
    assert (l1.predict(Xw) == y).mean() > 0.8


# ---------------------------------------------------------------------------- LogisticRegression + CoCoA


def test_logistic_regression_cocoa(ctx, binary):
    X, y = binary
    table = mli.MLTable.from_numpy(X, y, num_partitions=2)
    lbfgs = LogisticRegression(reg=0.02, tol=1e-10).fit(table, label="label")
    cocoa = LogisticRegression(reg=0.02, solver="cocoa", tol=1e-6,
                               max_iter=500).fit(table, label="label")
    np.testing.assert_allclose(cocoa.coef_, lbfgs.coef_, rtol=1e-3)
    np.testing.assert_allclose(cocoa.predict_proba(X), lbfgs.predict_proba(X), atol=1e-4)
    with pytest.raises(ValueError, match="hinge, logistic and squared"):
        LogisticRegression(reg=0.1, solver="cocoa").fit(X, np.arange(len(y)) % 3)
    with pytest.raises(ValueError, match="L2 term"):
        LogisticRegression(solver="cocoa").fit(X, y)


# ---------------------------------------------------------------------------- real data


def test_sms_spam_linear_classifiers(ctx, shared):
    Xtr, ytr, Xte, yte = sms_spam(shared("sms-spam", "SMSSpamCollection"))
    lr = LogisticRegression(reg=1e-4, max_iter=40).fit(Xtr, ytr)
    svm = LinearSVM(reg=1e-4, max_iter=40, tol=1e-4).fit(Xtr, ytr)
    acc = {"LogisticRegression": (lr.predict(Xte) == yte).mean(),
           "LinearSVM": (svm.predict(Xte) == yte).mean()}
    print("SMS spam accuracy", acc)
    assert min(acc.values()) > 0.97


def test_mnist_linear_classifiers(ctx, shared):
    Xtr, ytr, Xte, yte = mnist(shared("mnist-t10k", "t10k-images-idx3-ubyte.gz"))
    Xtr, Xte = Xtr / 255.0, Xte / 255.0
    lr = LogisticRegression(reg=1e-4, max_iter=40).fit(Xtr, ytr)
    pair_tr, pair_te = np.isin(ytr, [4, 9]), np.isin(yte, [4, 9])
    svm = LinearSVM(reg=1e-3, max_iter=40, tol=1e-4).fit(Xtr[pair_tr], ytr[pair_tr])
    acc = {"LogisticRegression (10 digits)": (lr.predict(Xte) == yte).mean(),
           "LinearSVM (4 vs 9)": (svm.predict(Xte[pair_te]) == yte[pair_te]).mean()}
    print("MNIST accuracy", acc)
    assert acc["LogisticRegression (10 digits)"] > 0.85
    assert acc["LinearSVM (4 vs 9)"] > 0.93
