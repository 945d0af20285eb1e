"""Readers: CSV/TSV, text lines, LibSVM and Parquet. Paths are anything Spark reads: local
files, ``file://``, ``hdfs://``, ``s3a://``, ... Each reader returns a
:class:`~mli.table.frames.Source` (the table's context, columns, and rows or blocks); the
table layer's ``read_csv``, ``MLTable.read_csv``, ... (:mod:`mli.table.mltable`) make the
MLTable of it, so this module sits below MLTable and never builds one.
"""
from __future__ import annotations

import functools
import logging

import numpy as np
import scipy.sparse as sp


from mli.engine.blocks import BlockRDD
from mli.engine.context import MLContext, get_context
from mli.errors import task_safe
from mli.linalg.localmatrix import LocalMatrix
from mli.table.frames import Source, spark_source

log = logging.getLogger("mli")

__all__ = ["check_text_header", "csv_source", "tsv_source", "text_source", "libsvm_source",
           "parquet_source",
           "lines_bytes"]

_CHUNK_BYTES = 256 << 20


# ---------------------------------------------------------------------------- paths


def _check_path(ctx: MLContext, path: str) -> None:
    """FileNotFoundError (not a JVM trace) when nothing exists at ``path`` (globs allowed)."""
    if not isinstance(path, str) or not path:
        raise TypeError(f"path must be a non-empty string, got {path!r}")
    if ctx.is_connect:
        return  # the path is the server's to read: its error is translated by _spark_read
    sc = ctx.sc
    jpath = sc._jvm.org.apache.hadoop.fs.Path(path)
    try:
        fs = jpath.getFileSystem(sc._jsc.hadoopConfiguration())
        found = fs.globStatus(jpath)
    except Exception as exc:  # noqa: BLE001 - unknown scheme, bad URI, no credentials
        raise FileNotFoundError(f"cannot access {path}: {str(exc).splitlines()[0]}") from None
    if found is None or len(found) == 0:
        raise FileNotFoundError(f"no such file or directory: {path}")


# ---------------------------------------------------------------------------- readers


def _spark_read(ctx, fmt, path, **options):
    _check_path(ctx, path)
    reader = ctx.spark.read
    for k, v in options.items():
        reader = reader.option(k, v)
    try:
        df = getattr(reader, fmt)(path)
        if ctx.is_connect:
            df.columns  # noqa: B018 - over Connect the server resolves the path only now
        return df
    except Exception as exc:  # noqa: BLE001
        if "PATH_NOT_FOUND" in str(exc) or "Path does not exist" in str(exc):
            raise FileNotFoundError(f"no such file or directory: {path}") from None
        raise ValueError(f"cannot read {path} as {fmt}: {_spark_message(exc)}") from None


def _spark_message(exc) -> str:
    """The useful line of a Spark/Py4J error (the Java exception's message, not 'o970.parquet')."""
    java = getattr(exc, "java_exception", None)
    if java is not None:
        try:
            cause = java
            while cause.getCause() is not None:  # the root cause says what is wrong
                cause = cause.getCause()
            text = str(cause.getMessage() or java.getMessage() or "")
            if text:
                return text.splitlines()[0][:500]
        except Exception:  # noqa: BLE001
            pass
    text = str(exc)
    return text.splitlines()[0][:500] if text else type(exc).__name__


def csv_source(path: str, *, sep: str = ",", header: bool = True, columns=None,
             ctx: MLContext | None = None):
    """Read delimited text. Numeric columns are detected (Spark's schema inference).

    Parameters
    ----------
    path : str
        A file, directory or glob on any file system Spark reads.
    sep : str
        Field delimiter (``"\\t"`` for TSV).
    header : bool
        First line holds the column names.
    columns : list of str, optional
        Column names (override the header / name headerless files).
    """
    ctx = get_context(ctx)
    df = _spark_read(ctx, "csv", path, sep=sep, header=str(bool(header)).lower(),
                     inferSchema="true", mode="PERMISSIVE")
    check_text_header(path, df.columns if header else ())
    if columns is not None:
        if len(columns) != len(df.columns):
            raise ValueError(f"got {len(columns)} column names for {len(df.columns)} columns in {path}")
        df = df.toDF(*[str(c) for c in columns])
    return spark_source(df, ctx=ctx)


def check_text_header(path: str, names) -> None:
    """ValueError when the header holds control bytes: a binary file read as text (its
    bytes are not shown: they would garble the message)."""
    for name in names:
        if any(ord(ch) < 32 and ch not in "\t" or ch == "\x7f" or ch == "\ufffd"
               for ch in str(name)):
            raise ValueError(f"{path} does not look like delimited text: its header line "
                             "holds binary (control or undecodable) bytes; is it a CSV/TSV "
                             "file?")


def tsv_source(path: str, **kw) -> Source:
    """Read tab-separated text (see :func:`csv_source`)."""
    return csv_source(path, sep="\t", **kw)


def text_source(path: str, *, ctx: MLContext | None = None, min_partitions: int | None = None):
    """Read text lines into a one-column table (column ``line``).

    Lines end at ``\\n``, ``\\r\\n`` or ``\\r`` (as Spark's ``textFile``); invalid UTF-8 is
    replaced by U+FFFD. Plain local files (and directories and globs of them) are read by the
    Python workers themselves: each partition opens the file at its byte range (aligned to
    line starts), so no line crosses from the JVM to Python. Compressed files and other file
    systems (``hdfs://``, ``s3a://``, ...) go through Spark's ``textFile``.
    """
    ctx = get_context(ctx)
    ctx.require_classic("read_text (a table of Python strings)",
                        "spark.read.text(path): a pipeline (Tokenizer | HashingTF | ...) "
                        "fits on a DataFrame of one text column (and a label column) over "
                        "Connect, e.g. Pipeline(...).fit(df, label='y')")
    _check_path(ctx, path)
    if min_partitions is None:
        min_partitions = ctx.sc.defaultMinPartitions
    splits = _local_text_splits(ctx, path, max(1, int(min_partitions)))
    if splits is not None:
        rdd = ctx.sc.parallelize(splits, max(1, len(splits))).mapPartitions(
            task_safe(_read_splits), preservesPartitioning=True)
    else:
        rdd = ctx.sc.textFile(path, minPartitions=min_partitions).map(lambda s: (s,))
    return Source(ctx, ["line"], rows=rdd, numeric=False)


_COMPRESSED = (".gz", ".bz2", ".deflate", ".lz4", ".snappy", ".zst", ".zstd", ".xz", ".lzo",
               ".lzma", ".z", ".br", ".zip")
_SPLIT_SLOP = 1.1  # Hadoop FileInputFormat's


def _local_text_splits(ctx: MLContext, path: str, min_partitions: int):
    """Byte-range splits ``(file, start, end)`` of the plain local files at ``path``, as
    Hadoop's ``FileInputFormat.getSplits`` cuts them for ``textFile``; None when a file is
    compressed or not on the local file system (then Spark reads it)."""
    sc = ctx.sc
    try:
        jpath = sc._jvm.org.apache.hadoop.fs.Path(path)
        fs = jpath.getFileSystem(sc._jsc.hadoopConfiguration())
        if str(fs.getScheme()) != "file":
            return None
        files = []
        for st in fs.globStatus(jpath) or []:
            if st.isDirectory():
                for child in fs.listStatus(st.getPath()) or []:
                    name = str(child.getPath().getName())
                    if name.startswith(("_", ".")):
                        continue  # Hadoop's hidden-file filter
                    if child.isDirectory():
                        return None
                    files.append(child)
            else:
                files.append(st)
        entries = []
        for st in files:
            local = str(st.getPath().toUri().getPath())
            if local.lower().endswith(_COMPRESSED):
                return None
            entries.append((local, int(st.getLen()), int(st.getBlockSize())))
    except Exception:  # noqa: BLE001 - anything unusual: let Spark read it
        return None
    if not entries:
        return None
    entries.sort()
    total = sum(n for _, n, _ in entries)
    goal = total // min_partitions
    splits = []
    for local, length, block in entries:
        size = max(1, min(goal, block if block > 0 else 32 << 20))
        start, rest = 0, length
        while rest / size > _SPLIT_SLOP:
            splits.append((local, start, start + size))
            start += size
            rest -= size
        if rest > 0:
            splits.append((local, start, length))
    return splits or None  # only empty files: Spark's (no partitions)


def _next_line_start(f, pos: int, size: int) -> int:
    """Where the line after the first line end (\\n, \\r\\n or a lone \\r) at or after ``pos``
    starts: Hadoop's LineRecordReader skips to there from a split's start (the split before
    reads the lines starting up to and including its end)."""
    if pos <= 0:
        return 0
    if pos >= size:
        return size
    f.seek(pos)
    base = pos
    while True:
        chunk = f.read(1 << 16)
        if not chunk:
            return size
        i_n, i_r = chunk.find(b"\n"), chunk.find(b"\r")
        if i_n < 0 and i_r < 0:
            base += len(chunk)
            continue
        if i_r < 0 or (0 <= i_n < i_r):
            return base + i_n + 1
        j = base + i_r  # a \r: one line end together with a following \n
        if i_r + 1 < len(chunk):
            return j + 2 if chunk[i_r + 1] == 10 else j + 1
        f.seek(j + 1)
        return j + 2 if f.read(1) == b"\n" else min(j + 1, size)


def _split_bytes(local: str, start: int, end: int) -> bytes:
    """The bytes of the lines of split ``[start, end)`` of ``local`` (as Hadoop assigns
    lines to splits: those starting after the first line end at or after ``start``, up to
    and including a line starting at ``end``)."""
    import os

    size = os.path.getsize(local)
    end = min(end, size)
    with open(local, "rb") as f:
        a = _next_line_start(f, start, size)
        b = _next_line_start(f, end, size) if end < size else size
        if b <= a:
            return b""
        f.seek(a)
        return f.read(b - a)


def _bytes_to_lines(raw: bytes) -> tuple[list[str], bool]:
    """(lines, clean): clean when ``raw`` is valid UTF-8 without \\r (then its lines joined
    by \\n, plus a final \\n when ``raw`` ends with one, are ``raw`` itself)."""
    clean = b"\r" not in raw
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "replace")
        clean = False
    if not clean:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the text ends with its last line's terminator
    return lines, clean


def _split_lines(local: str, start: int, end: int) -> list[str]:
    return _bytes_to_lines(_split_bytes(local, start, end))[0]


# The lines this Python worker read last, with their bytes: a Tokenizer given exactly these
# str objects (same objects, same order: checked) tokenizes the bytes instead of encoding
# the str again (see lines_bytes). One entry, dropped when used or replaced.
_LAST_READ: list = []


def _read_splits(splits):
    # a list, not a generator: no Python frame per line when Spark iterates it
    lines: list = []
    parts: list = []
    clean = True
    for local, start, end in splits:
        raw = _split_bytes(local, start, end)
        got, ok = _bytes_to_lines(raw)
        lines += got
        clean &= ok
        if raw:
            parts.append(raw if raw.endswith(b"\n") else raw + b"\n")
    _LAST_READ.clear()
    if clean and lines:
        _LAST_READ.append((lines, parts[0] if len(parts) == 1 else b"".join(parts)))
    return list(zip(lines))


def lines_bytes(values: list) -> bytes | None:
    """The UTF-8 bytes of ``values`` -- each value followed by ``\\n`` -- when ``values`` are
    the very lines (the same str objects, in order) that :func:`read_text` last read in this
    Python worker; else None. Lets a tokenizer reuse the bytes read from the file."""
    import operator

    if not _LAST_READ:
        return None
    lines, raw = _LAST_READ[0]
    if len(values) != len(lines) or values[0] is not lines[0] or values[-1] is not lines[-1] \
            or not all(map(operator.is_, values, lines)):
        return None
    _LAST_READ.clear()
    return raw


def parquet_source(path: str, *, columns=None, ctx: MLContext | None = None):
    """Read Parquet (optionally only some columns)."""
    ctx = get_context(ctx)
    df = _spark_read(ctx, "parquet", path)
    if columns is not None:
        columns = [columns] if isinstance(columns, str) else list(columns)
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise ValueError(f"columns {missing} not in {path}; it has {df.columns}")
        df = df.select(*columns)
    return spark_source(df, ctx=ctx)


class _LibSVMError(ValueError):
    """A malformed LibSVM line (``line`` counts from 0 within the partition)."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line


#: column indices of CSR blocks are int32
MAX_LIBSVM_FEATURES = 2**31 - 1


def _parse_lines(zero_based, num_features, lines):
    """Parse LibSVM lines into (labels, indptr, indices, values); raise _LibSVMError."""
    labels, indptr, indices, values = [], [0], [], []
    base = "0" if zero_based else "1"
    n = -1
    for n, raw in enumerate(lines):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        try:
            y = float(parts[0])
        except ValueError:
            raise _LibSVMError(n, f"label {parts[0]!r} is not a number") from None
        if not np.isfinite(y):
            raise _LibSVMError(n, f"label {parts[0]!r} is not finite")
        labels.append(y)
        last = -1
        for tok in parts[1:]:
            k, sep, v = tok.partition(":")
            try:
                j = int(k) - (0 if zero_based else 1)
                x = float(v)
            except ValueError:
                j = -2
            if not sep or j < 0:
                raise _LibSVMError(n, f"{tok!r} is not index:value with a {base}-based "
                                      "integer index and a number")
            if not np.isfinite(x):
                raise _LibSVMError(n, f"{tok!r}: feature values must be finite")
            if j <= last:
                raise _LibSVMError(n, f"indices must be strictly increasing ({tok!r})")
            if num_features is not None and j >= num_features:
                raise _LibSVMError(n, f"feature index {int(k)} ({tok!r}) exceeds "
                                      f"num_features={num_features}")
            if j >= MAX_LIBSVM_FEATURES:
                raise _LibSVMError(n, f"feature index {int(k)} ({tok!r}) is too large: "
                                      f"at most {MAX_LIBSVM_FEATURES} features (32-bit "
                                      "column indices of the sparse blocks)")
            last = j
            indices.append(j)
            values.append(x)
        indptr.append(len(indices))
    parsed = (np.asarray(labels, dtype=np.float64), np.asarray(indptr, dtype=np.int64),
              np.asarray(indices, dtype=np.int32), np.asarray(values, dtype=np.float64))
    return parsed, n + 1


def _scan_libsvm(zero_based, num_features, index, lines):
    """Per partition: (index, number of lines, largest feature index, first error or None)."""
    try:
        parsed, nlines = _parse_lines(zero_based, num_features, lines)
    except _LibSVMError as exc:
        yield (index, 0, -1, (exc.line, str(exc)))
        return
    idx = parsed[2]
    yield (index, nlines, int(idx.max()) if len(idx) else -1, None)


def _parse_libsvm(zero_based, num_features, where, offsets, index, lines):
    try:
        parsed, _ = _parse_lines(zero_based, num_features, lines)
    except _LibSVMError as exc:  # the scan in read_libsvm normally reports it first
        line = (f"line {offsets[index] + exc.line + 1}" if offsets is not None
                else f"line {exc.line + 1} of partition {index}")
        raise ValueError(f"LibSVM {where}, {line}: {exc}") from None
    yield parsed


def _libsvm_block(num_features, parsed):
    for lab, ptr, idx, val in parsed:
        X = sp.csr_matrix((val, idx, ptr), shape=(len(lab), num_features))
        yield LocalMatrix(sp.hstack([sp.csr_matrix(lab.reshape(-1, 1)), X], format="csr"))


def _frame_lines(batches):
    """The strings of a one-column Arrow stream (``spark.read.text``), in order."""
    for batch in batches:
        for line in batch.column(0).to_pylist():
            yield "" if line is None else line


def _scan_libsvm_frame(zero_based, num_features, batches):
    import pyarrow as pa
    from pyspark import TaskContext

    index = TaskContext.get().partitionId()
    (_i, n, top, err), = _scan_libsvm(zero_based, num_features, index, _frame_lines(batches))
    yield pa.RecordBatch.from_pydict(
        {"index": [index], "lines": [n], "max_index": [top],
         "bad_line": [None if err is None else err[0]],
         "error": [None if err is None else err[1]]},
        schema=pa.schema([("index", pa.int64()), ("lines", pa.int64()),
                          ("max_index", pa.int64()), ("bad_line", pa.int64()),
                          ("error", pa.string())]))


def _libsvm_frame_block(zero_based, num_features, where, offsets, batches, index):
    """One partition of ``spark.read.text`` -> one ``[label | X]`` CSR block."""
    parsed = _parse_libsvm(zero_based, num_features, where, offsets, index,
                           _frame_lines(batches))
    (block,) = _libsvm_block(num_features, parsed)
    return block


def libsvm_source(path: str, *, num_features: int | None = None, zero_based: bool = False,
                ctx: MLContext | None = None, min_partitions: int | None = None):
    """Read LibSVM/SVMlight files into a sparse numeric table: ``label``, ``x0``.. ``x{d-1}``.

    The files are checked by one Spark job (which also finds ``num_features`` when it is not
    given): a malformed line raises ValueError naming its line number (1-based; counted over
    the files in order when ``path`` is a directory or glob) and what is wrong with it.
    Over Spark Connect, Spark reads the lines (``spark.read.text``) and the executors parse
    them into CSR blocks where they run.
    """
    ctx = get_context(ctx)
    if num_features is not None and (not isinstance(num_features, (int, np.integer))
                                     or isinstance(num_features, bool) or num_features < 1):
        raise ValueError(f"num_features must be a positive integer, got {num_features!r}")
    if ctx.is_connect:
        # the DataFrame API only: Spark reads the lines, the executors parse and write the
        # blocks where they run (one scan job, then one mapInArrow job)
        lines = _spark_read(ctx, "text", path)
        scan = sorted(tuple(r) for r in ctx.run(lines.mapInArrow(
            task_safe(functools.partial(_scan_libsvm_frame, zero_based, num_features)),
            "index long, lines long, max_index long, bad_line long, error string").collect))
        scan = [(i, n, m, None if line is None else (line, msg))
                for i, n, m, line, msg in scan]
    else:
        _check_path(ctx, path)
        lines = ctx.sc.textFile(path, minPartitions=min_partitions)
        scan = sorted(ctx.run(lines.mapPartitionsWithIndex(
            task_safe(functools.partial(_scan_libsvm, zero_based, num_features))).collect))
    offsets = [0]
    for _index, nlines, _maxj, _err in scan:
        offsets.append(offsets[-1] + nlines)
    for index, _n, _maxj, err in scan:
        if err is not None:
            line, msg = err
            # the partitions before this one are complete: their line counts are exact
            raise ValueError(f"LibSVM {path}, line {offsets[index] + line + 1}: {msg}")
    if num_features is None:
        num_features = max((m for _, _, m, _ in scan), default=-1) + 1
        if num_features == 0:
            raise ValueError(f"{path} has no features (no index:value pairs)")
    cols = ["label"] + [f"x{j}" for j in range(num_features)]
    if ctx.is_connect:
        store = BlockRDD.from_dataframe(lines, functools.partial(
            _libsvm_frame_block, zero_based, int(num_features), path, offsets), ctx,
            name="table")
        return Source(ctx, cols, blocks=functools.partial(getattr, store, "source_rdd"),
                      numeric=True, origin=store)
    parsed = lines.mapPartitionsWithIndex(task_safe(functools.partial(
        _parse_libsvm, zero_based, int(num_features), path, offsets)))
    blocks = parsed.mapPartitions(task_safe(functools.partial(_libsvm_block, int(num_features))),
                                  preservesPartitioning=True)
    return Source(ctx, cols, blocks=blocks, numeric=True)
