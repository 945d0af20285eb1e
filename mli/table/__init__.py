"""Layer 3, the data API: :class:`MLTable` (a distributed table of rows or of LocalMatrix
blocks) and everything that makes one.

* :mod:`~mli.table.mltable` -- ``MLTable``, ``LabeledData``;
* :mod:`~mli.table.io` -- readers (CSV/TSV, text lines, LibSVM, Parquet);
* :mod:`~mli.table.frames` -- Spark DataFrames to and from blocks (through Arrow), the
  readers' ``Source``, the finite-values check;
* :mod:`~mli.table.kinds` -- ``input_kind``: the one place kinds of input are told apart;
* :mod:`~mli.table.ids`, :mod:`~mli.table.labels` -- ids to indices, class labels to codes;
* :mod:`~mli.table.sampling` -- randomness and row access independent of the partitioning;
* :mod:`~mli.table.datasets` -- generated data shaped like MovieLens, Netflix, blobs.
"""
from mli.table.mltable import (LabeledData, MLTable, as_labeled, as_matrix, from_spark,
                               read_csv, read_libsvm, read_parquet, read_text, read_tsv,
                               to_spark)

__all__ = ["MLTable", "LabeledData", "as_labeled", "as_matrix", "read_csv", "read_tsv",
           "read_text", "read_libsvm", "read_parquet", "from_spark", "to_spark"]
