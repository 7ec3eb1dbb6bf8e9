# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled kernels of the multi-index Hamming search (see `mih.py` for the design).

Hashes are rows of 64-bit words, most significant bit first: bit p of a hash is bit
(63 - p % 64) of word p // 64. Every function releases the GIL while it works.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy, memset

import numpy as np


cdef extern from *:
    int __builtin_popcountll(unsigned long long) nogil
    void __builtin_prefetch(const void*) nogil


cdef inline uint32_t _key(const uint64_t* v, int offset, int width) noexcept nogil:
    cdef int i = offset >> 6
    cdef int s = offset & 63
    cdef uint64_t mask = ((<uint64_t>1) << width) - 1
    if s + width <= 64:
        return <uint32_t>((v[i] >> (64 - s - width)) & mask)
    return <uint32_t>(((v[i] << (s + width - 64)) | (v[i + 1] >> (128 - s - width))) & mask)


cdef inline int _distance(const uint64_t* a, const uint64_t* b, int words) noexcept nogil:
    cdef int d = 0
    cdef int k
    for k in range(words):
        d += __builtin_popcountll(a[k] ^ b[k])
    return d


def chunk_keys(const uint64_t[:, ::1] values, int offset, int width, uint32_t[::1] out):
    """out[r] = the `width`-bit chunk of row r starting at bit `offset`."""
    cdef Py_ssize_t r, n = values.shape[0]
    if n == 0:
        return
    with nogil:
        for r in range(n):
            out[r] = _key(&values[r, 0], offset, width)


def counting_sort(const uint32_t[::1] keys, uint32_t[::1] offsets, uint32_t[::1] rows):
    """Bucket rows by key: rows[offsets[k]:offsets[k + 1]] are the rows whose key is k."""
    cdef Py_ssize_t r, n = keys.shape[0]
    cdef Py_ssize_t k, buckets = offsets.shape[0] - 1
    cdef uint32_t* cursor
    with nogil:
        memset(&offsets[0], 0, (buckets + 1) * sizeof(uint32_t))
        for r in range(n):
            offsets[keys[r] + 1] += 1
        for k in range(buckets):
            offsets[k + 1] += offsets[k]
        cursor = <uint32_t*>malloc(buckets * sizeof(uint32_t))
        if cursor != NULL:
            memcpy(cursor, &offsets[0], buckets * sizeof(uint32_t))
            for r in range(n):
                rows[cursor[keys[r]]] = <uint32_t>r
                cursor[keys[r]] += 1
            free(cursor)
    if cursor == NULL:
        raise MemoryError()


cdef struct Hits:
    int64_t* rows
    int32_t* distances
    Py_ssize_t size
    Py_ssize_t capacity
    int failed


cdef inline void _push(Hits* hits, int64_t row, int32_t distance) noexcept nogil:
    cdef Py_ssize_t capacity
    cdef void* grown
    if hits.failed:
        return
    if hits.size == hits.capacity:
        capacity = hits.capacity * 2 if hits.capacity else 64
        grown = realloc(hits.rows, capacity * sizeof(int64_t))
        if grown == NULL:
            hits.failed = 1
            return
        hits.rows = <int64_t*>grown
        grown = realloc(hits.distances, capacity * sizeof(int32_t))
        if grown == NULL:
            hits.failed = 1
            return
        hits.distances = <int32_t*>grown
        hits.capacity = capacity
    hits.rows[hits.size] = row
    hits.distances[hits.size] = distance
    hits.size += 1


cdef object _collect(Hits* hits):
    cdef int64_t[::1] row_view
    cdef int32_t[::1] distance_view
    try:
        if hits.failed:
            raise MemoryError()
        rows = np.empty(hits.size, dtype=np.int64)
        distances = np.empty(hits.size, dtype=np.int32)
        if hits.size:
            row_view = rows
            distance_view = distances
            memcpy(&row_view[0], hits.rows, hits.size * sizeof(int64_t))
            memcpy(&distance_view[0], hits.distances, hits.size * sizeof(int32_t))
        return rows, distances
    finally:
        free(hits.rows)
        free(hits.distances)


def scan(const uint64_t[:, ::1] values, const uint8_t[::1] dead, const uint64_t[::1] query,
         int max_distance):
    """Exact linear scan: (rows, distances) of live rows within max_distance, in row order."""
    cdef Py_ssize_t r, n = values.shape[0]
    cdef int words = values.shape[1]
    cdef int d
    cdef Hits hits
    memset(&hits, 0, sizeof(Hits))
    if n:
        with nogil:
            for r in range(n):
                if dead[r]:
                    continue
                d = _distance(&values[r, 0], &query[0], words)
                if d <= max_distance:
                    _push(&hits, r, d)
    return _collect(&hits)


cdef struct Probe:
    const uint64_t* values
    const uint8_t* dead
    const uint64_t* query
    int words
    int max_distance
    const int32_t* offsets_bits
    const int32_t* taus
    const uint32_t* qkeys
    int width
    Hits* hits
    Py_ssize_t candidates
    # scratch: probe keys of one chunk, then the candidate rows they point at
    uint32_t* keys
    Py_ssize_t nkeys
    Py_ssize_t keys_capacity
    uint32_t* rows
    Py_ssize_t rows_capacity
    int failed


cdef void _enumerate(Probe* p, uint32_t key, int first_bit, int flips_left) noexcept nogil:
    """Append every key within `flips_left` more bit flips (above first_bit) of `key`."""
    cdef int b
    cdef void* grown
    if p.nkeys == p.keys_capacity:
        grown = realloc(p.keys, 2 * p.keys_capacity * sizeof(uint32_t))
        if grown == NULL:
            p.failed = 1
            return
        p.keys = <uint32_t*>grown
        p.keys_capacity *= 2
    p.keys[p.nkeys] = key
    p.nkeys += 1
    if flips_left == 0:
        return
    for b in range(first_bit, p.width):
        _enumerate(p, key ^ ((<uint32_t>1) << b), b + 1, flips_left - 1)


cdef void _search_chunk(Probe* p, int chunk, const uint32_t* offsets, const uint32_t* rows) noexcept nogil:
    """Probe one chunk in three passes so that the memory loads of each pass overlap:
    bucket offsets, then candidate rows, then the candidates' hashes."""
    cdef Py_ssize_t k, i, n = 0, total = 0
    cdef uint32_t start, end, row
    cdef const uint64_t* v
    cdef int d, j, earlier
    cdef void* grown
    p.nkeys = 0
    _enumerate(p, p.qkeys[chunk], 0, p.taus[chunk])
    if p.failed:
        return
    for k in range(p.nkeys):
        __builtin_prefetch(&offsets[p.keys[k]])
    for k in range(p.nkeys):
        total += offsets[p.keys[k] + 1] - offsets[p.keys[k]]
    if total > p.rows_capacity:
        grown = realloc(p.rows, total * sizeof(uint32_t))
        if grown == NULL:
            p.failed = 1
            return
        p.rows = <uint32_t*>grown
        p.rows_capacity = total
    for k in range(p.nkeys):
        start = offsets[p.keys[k]]
        end = offsets[p.keys[k] + 1]
        while start < end:
            row = rows[start]
            __builtin_prefetch(p.values + <Py_ssize_t>row * p.words)
            p.rows[n] = row
            n += 1
            start += 1
    p.candidates += n
    for i in range(n):
        row = p.rows[i]
        if p.dead[row]:
            continue
        v = p.values + <Py_ssize_t>row * p.words
        d = _distance(v, p.query, p.words)
        if d > p.max_distance:
            continue
        # Report each row once: from the first chunk in which it lies within that chunk's radius.
        earlier = 0
        for j in range(chunk):
            if p.taus[j] >= 0 and __builtin_popcountll(
                _key(v, p.offsets_bits[j], p.width) ^ p.qkeys[j]
            ) <= p.taus[j]:
                earlier = 1
                break
        if not earlier:
            _push(p.hits, row, d)


cdef class MultiIndexTable:
    """Bucket tables of one frozen set of hashes: for chunk i, the rows whose i-th chunk
    equals k are bucket_rows[i][bucket_offsets[i][k]:bucket_offsets[i][k + 1]]."""

    cdef object _keep
    cdef const uint64_t* _values
    cdef const uint8_t* _dead
    cdef Py_ssize_t _n
    cdef int _words
    cdef int _width
    cdef int _m
    cdef int32_t* _offsets_bits
    cdef const uint32_t** _bucket_offsets
    cdef const uint32_t** _bucket_rows

    def __cinit__(self, values, dead, offsets_bits, int width, bucket_offsets, bucket_rows):
        cdef const uint64_t[:, ::1] v = values
        cdef const uint8_t[::1] dd = dead
        cdef const uint32_t[::1] o
        cdef const uint32_t[::1] rr
        cdef int i
        self._m = len(offsets_bits)
        if not (len(bucket_offsets) == len(bucket_rows) == self._m):
            raise ValueError("one offsets and one rows array per chunk")
        if v.shape[0] == 0:
            raise ValueError("a table needs at least one row")
        self._keep = (values, dead, bucket_offsets, bucket_rows)
        self._values = &v[0, 0]
        self._dead = &dd[0]
        self._n = v.shape[0]
        self._words = v.shape[1]
        self._width = width
        self._offsets_bits = <int32_t*>malloc(self._m * sizeof(int32_t))
        self._bucket_offsets = <const uint32_t**>malloc(self._m * sizeof(uint32_t*))
        self._bucket_rows = <const uint32_t**>malloc(self._m * sizeof(uint32_t*))
        if self._offsets_bits == NULL or self._bucket_offsets == NULL or self._bucket_rows == NULL:
            raise MemoryError()
        for i in range(self._m):
            o = bucket_offsets[i]
            rr = bucket_rows[i]
            if o.shape[0] != (1 << width) + 1 or rr.shape[0] != self._n:
                raise ValueError("bucket arrays do not fit the width or the row count")
            self._offsets_bits[i] = offsets_bits[i]
            self._bucket_offsets[i] = &o[0]
            self._bucket_rows[i] = &rr[0]

    def __dealloc__(self):
        free(self._offsets_bits)
        free(<void*>self._bucket_offsets)
        free(<void*>self._bucket_rows)

    def search(self, const uint64_t[::1] query, int max_distance, const int32_t[::1] taus):
        """(rows, distances, candidates) of live rows within max_distance, each row once.

        taus[i] is the radius probed around the query's i-th chunk (-1: skip the chunk); the
        caller chooses them so that sum(taus[i] + 1) >= max_distance + 1 (pigeonhole).
        """
        cdef Hits hits
        cdef Probe p
        cdef int i
        if taus.shape[0] != self._m or query.shape[0] != self._words:
            raise ValueError("query or taus do not fit the table")
        memset(&hits, 0, sizeof(Hits))
        memset(&p, 0, sizeof(Probe))
        p.qkeys = <uint32_t*>malloc(self._m * sizeof(uint32_t))
        p.keys = <uint32_t*>malloc(256 * sizeof(uint32_t))
        p.keys_capacity = 256
        if p.qkeys == NULL or p.keys == NULL:
            free(<void*>p.qkeys)
            free(p.keys)
            raise MemoryError()
        p.values = self._values
        p.dead = self._dead
        p.query = &query[0]
        p.words = self._words
        p.max_distance = max_distance
        p.offsets_bits = self._offsets_bits
        p.taus = &taus[0]
        p.width = self._width
        p.hits = &hits
        with nogil:
            for i in range(self._m):
                (<uint32_t*>p.qkeys)[i] = _key(p.query, self._offsets_bits[i], self._width)
            for i in range(self._m):
                if taus[i] < 0 or p.failed:
                    continue
                _search_chunk(&p, i, self._bucket_offsets[i], self._bucket_rows[i])
        free(<void*>p.qkeys)
        free(p.keys)
        free(p.rows)
        if p.failed:
            free(hits.rows)
            free(hits.distances)
            raise MemoryError()
        rows, distances = _collect(&hits)
        return rows, distances, p.candidates
