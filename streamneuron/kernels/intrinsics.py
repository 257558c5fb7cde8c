"""LLVM intrinsics: the per-row building blocks of the kernels, written as LLVM IR.

Helpers called once per row (the logit, the update, the prefetch hints, the 4 x 4
transpose, the eight-sum accumulator) are intrinsics rather than inlined numba
functions: numba increments and decrements the reference count of every array
passed to a function, even an inlined one, and once per row that bookkeeping
outweighs the arithmetic. Written out here, they are also the only place where
the vector instructions are spelled, so the order of every sum is explicit.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


def _float64_arrays(*arrays) -> bool:
    return all(isinstance(a, types.Array) and a.dtype == types.float64 for a in arrays)


def _is_tile(tile) -> bool:
    """The numba type of a tile: a C-contiguous 2-D float64 array."""
    return _float64_arrays(tile) and tile.ndim == 2 and tile.layout == "C"


def _arguments(context, builder, signature, args):
    """An intrinsic's arguments, lowered: arrays as array structs, integers as intp,
    floats as float64, booleans as i1."""
    out = []
    for ty, value in zip(signature.args, args):
        if isinstance(ty, types.Array):
            out.append(context.make_array(ty)(context, builder, value))
        elif isinstance(ty, types.Boolean):
            out.append(context.cast(builder, value, ty, types.boolean))
        elif isinstance(ty, types.Integer):
            out.append(context.cast(builder, value, ty, types.intp))
        else:
            out.append(context.cast(builder, value, ty, types.float64))
    return out


def _item(context, builder, aryty, ary, index):
    """A pointer to ``ary[index...]`` (``index``: intp values)."""
    return cgutils.get_item_pointer(context, builder, aryty, ary, index, wraparound=False)


def _vector_at(builder, pointer, offset, vec):
    """``vec`` loaded from ``pointer + offset`` elements (unaligned)."""
    return builder.load(builder.bitcast(builder.gep(pointer, [offset]), vec.as_pointer()),
                        align=8)


def _splat(builder, value, vec):
    i32 = ir.IntType(32)
    undef = ir.Constant(vec, ir.Undefined)
    return builder.shuffle_vector(builder.insert_element(undef, value, i32(0)), undef,
                                  ir.Constant(ir.VectorType(i32, vec.count), [0] * vec.count))


def _prefetch_codegen(context, builder, signature, args):
    aryty = signature.args[0]
    ary, *index = _arguments(context, builder, signature, args)
    ptr = cgutils.get_item_pointer(context, builder, aryty, ary, index, wraparound=False)
    i8p = ir.IntType(8).as_pointer()
    i32 = ir.IntType(32)
    fn = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), "llvm.prefetch.p0")
    builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])  # read, keep in cache
    return context.get_dummy_value()


@intrinsic
def _prefetch(typingctx, arr, i, j):
    """A hint to bring ``arr[i, j]`` into cache (``llvm.prefetch``); changes no value."""
    if not (isinstance(arr, types.Array) and arr.ndim == 2):
        return None
    return types.void(arr, i, j), _prefetch_codegen


@intrinsic
def _prefetch1(typingctx, arr, i):
    """A hint to bring ``arr[i]`` into cache."""
    if not (isinstance(arr, types.Array) and arr.ndim == 1):
        return None
    return types.void(arr, i), _prefetch_codegen


@intrinsic
def _logit(typingctx, b, w, tile, r, d):
    """``b + sum_j w_j tile[r, j]``: feature ``j`` goes to partial sum ``j % 8``, in
    increasing ``j``; the eight sums are combined as
    ``((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7))``.

    The partial sums are two ``<4 x double>`` accumulators (lane ``k`` of them is the
    scalar sum ``s_k``, bit for bit: numba leaves the SLP vectorizer off, and
    without ``fastmath`` nothing may be reassociated, so it is written out here): a
    dependency chain of ``d / 8`` steps instead of ``d``.
    """
    if not (_float64_arrays(w) and w.ndim == 1 and _is_tile(tile)):
        return None

    def codegen(context, builder, signature, args):
        _, wty, tty, _, _ = signature.args
        bias, wa, ta, r, d = _arguments(context, builder, signature, args)
        intp = context.get_value_type(types.intp)
        dbl = ir.DoubleType()
        vec = ir.VectorType(dbl, 4)
        zero = intp(0)
        tp = builder.bitcast(_item(context, builder, tty, ta, [r, zero]), dbl.as_pointer())
        wp = builder.bitcast(_item(context, builder, wty, wa, [zero]), dbl.as_pointer())
        contiguous = wty.layout in ("C", "F")  # w is 1-D: C or F means contiguous
        acc = [cgutils.alloca_once_value(builder, ir.Constant(vec, [0.0] * 4)) for _ in range(2)]
        blocks = builder.ashr(d, intp(3))
        with cgutils.for_range(builder, blocks) as loop:
            base = builder.mul(loop.index, intp(8))
            for half in range(2):
                off = builder.add(base, intp(4 * half))
                x = _vector_at(builder, tp, off, vec)
                if contiguous:
                    wv = _vector_at(builder, wp, off, vec)
                else:
                    wv = ir.Constant(vec, [0.0] * 4)
                    for k in range(4):
                        ptr = _item(context, builder, wty, wa, [builder.add(off, intp(k))])
                        wv = builder.insert_element(wv, builder.load(ptr), ir.IntType(32)(k))
                builder.store(builder.fadd(builder.load(acc[half]), builder.fmul(wv, x)), acc[half])
        sums = [cgutils.alloca_once_value(
            builder, builder.extract_element(builder.load(acc[k // 4]), ir.IntType(32)(k % 4)))
            for k in range(8)]
        first = builder.mul(blocks, intp(8))
        rest = builder.sub(d, first)
        for k in range(7):  # the last d % 8 features, into sums 0 .. d % 8 - 1
            with builder.if_then(builder.icmp_signed(">", rest, intp(k))):
                j = builder.add(first, intp(k))
                wx = builder.fmul(builder.load(_item(context, builder, wty, wa, [j])),
                                  builder.load(builder.gep(tp, [j])))
                builder.store(builder.fadd(builder.load(sums[k]), wx), sums[k])
        v = [builder.load(x) for x in sums]
        left = builder.fadd(builder.fadd(v[0], v[4]), builder.fadd(v[2], v[6]))
        right = builder.fadd(builder.fadd(v[1], v[5]), builder.fadd(v[3], v[7]))
        return builder.fadd(bias, builder.fadd(left, right))

    return types.float64(b, w, tile, r, d), codegen


@intrinsic
def _prefetch_row(typingctx, X, i):
    """Prefetch row ``i`` of ``X``: one hint per 64 bytes of a row-major row, one per
    value otherwise. A shuffled block's rows are scattered; hints issued a tile
    ahead let their loads overlap the training."""
    if not (isinstance(X, types.Array) and X.ndim == 2 and isinstance(i, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        xty = signature.args[0]
        xa, i = _arguments(context, builder, signature, args)
        intp = context.get_value_type(types.intp)
        d = builder.extract_value(xa.shape, 1)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
            "llvm.prefetch.p0")

        def hint(j):
            ptr = _item(context, builder, xty, xa, [i, j])
            builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])

        step = max(1, 64 // (xty.dtype.bitwidth // 8)) if xty.layout == "C" else 1
        with cgutils.for_range_slice(builder, intp(0), d, intp(step), intp) as (j, _):
            hint(j)
        if step > 1:
            with builder.if_then(builder.icmp_signed(">", d, intp(0))):
                hint(builder.sub(d, intp(1)))
        return context.get_dummy_value()

    return types.void(X, i), codegen


@intrinsic
def _update_row(typingctx, w, carry_w, tile, r, dz, lr, m, exact, l2):
    """The last row of a batch and the step, in one pass over the weights::

        c_j = carry_j + dz * tile[r, j]
        w_j -= lr * (c_j * (1/m) + l2 * w_j)     (``exact``: m a power of two)
        w_j -= lr * (c_j / m + l2 * w_j)         (otherwise)
        carry_j = 0

    four weights per instruction, each the scalar formula's number."""
    if not (_float64_arrays(w, carry_w) and _is_tile(tile)):
        return None

    def codegen(context, builder, signature, args):
        wty, cty, tty = signature.args[:3]
        wa, ca, ta, r, dz, lr, m, exact, l2 = _arguments(context, builder, signature, args)
        intp = context.get_value_type(types.intp)
        dbl = ir.DoubleType()
        vec = ir.VectorType(dbl, 4)
        d = builder.extract_value(wa.shape, 0)
        tp = builder.bitcast(_item(context, builder, tty, ta, [r, intp(0)]), dbl.as_pointer())
        inv_m = builder.fdiv(dbl(1.0), m)
        quads = builder.ashr(d, intp(2))
        vectors = wty.layout in ("C", "F") and cty.layout in ("C", "F")

        def loops(by_inverse):
            """The update over all ``j``: 4-wide where w and the carry are contiguous."""

            def scaled(c, width):
                if by_inverse:
                    return builder.fmul(c, inv_m if width == 1 else _splat(builder, inv_m, vec))
                return builder.fdiv(c, m if width == 1 else _splat(builder, m, vec))

            first = intp(0)
            if vectors:
                wp0 = builder.bitcast(_item(context, builder, wty, wa, [intp(0)]),
                                      dbl.as_pointer())
                cp0 = builder.bitcast(_item(context, builder, cty, ca, [intp(0)]),
                                      dbl.as_pointer())
                dzv, lrv, l2v = (_splat(builder, v, vec) for v in (dz, lr, l2))
                with cgutils.for_range(builder, quads) as loop:
                    off = builder.mul(loop.index, intp(4))
                    wptr = builder.bitcast(builder.gep(wp0, [off]), vec.as_pointer())
                    cptr = builder.bitcast(builder.gep(cp0, [off]), vec.as_pointer())
                    c = builder.fadd(builder.load(cptr, align=8),
                                     builder.fmul(dzv, _vector_at(builder, tp, off, vec)))
                    wv = builder.load(wptr, align=8)
                    builder.store(builder.fsub(wv, builder.fmul(lrv, builder.fadd(
                        scaled(c, 4), builder.fmul(l2v, wv)))), wptr, align=8)
                    builder.store(ir.Constant(vec, [0.0] * 4), cptr, align=8)
                first = builder.mul(quads, intp(4))
            with cgutils.for_range_slice(builder, first, d, intp(1), intp) as (j, _):
                wp = _item(context, builder, wty, wa, [j])
                cp = _item(context, builder, cty, ca, [j])
                c = builder.fadd(builder.load(cp),
                                 builder.fmul(dz, builder.load(builder.gep(tp, [j]))))
                wj = builder.load(wp)
                builder.store(builder.fsub(wj, builder.fmul(lr, builder.fadd(
                    scaled(c, 1), builder.fmul(l2, wj)))), wp)
                builder.store(dbl(0.0), cp)

        with builder.if_else(exact) as (by_inverse, by_division):
            with by_inverse:
                loops(True)
            with by_division:
                loops(False)
        return context.get_dummy_value()

    return types.void(w, carry_w, tile, r, dz, lr, m, exact, l2), codegen


@intrinsic
def _transpose4(typingctx, X, i, j, tile, r, mean, inv_scale):
    """``tile[r + a, j + c] = (X[i + a, j + c] - mean[j + c]) * inv_scale[j + c]`` for
    ``a, c < 4``, from a column-major ``X`` (rows contiguous): four 4-row stretches of
    four columns loaded as vectors, standardized (the same two operations per value
    as the scalar loop, so the same numbers), transposed in registers, stored as
    four 4-wide row pieces of the tile."""
    if not (isinstance(X, types.Array) and X.ndim == 2 and _is_tile(tile)
            and X.dtype in (types.float32, types.float64) and _float64_arrays(mean, inv_scale)):
        return None

    def codegen(context, builder, signature, args):
        xty, _, _, tty, _, mty, sty = signature.args
        xa, i, j, ta, r, ma, sa = _arguments(context, builder, signature, args)
        intp = context.get_value_type(types.intp)
        vec = ir.VectorType(ir.DoubleType(), 4)
        i32 = ir.IntType(32)
        elem = context.get_value_type(xty.dtype)
        cols = []
        for c in range(4):
            jc = builder.add(j, intp(c))
            x = builder.load(builder.bitcast(_item(context, builder, xty, xa, [i, jc]),
                                             ir.VectorType(elem, 4).as_pointer()),
                             align=xty.dtype.bitwidth // 8)
            if xty.dtype == types.float32:
                x = builder.fpext(x, vec)
            m = builder.load(_item(context, builder, mty, ma, [jc]))
            sc = builder.load(_item(context, builder, sty, sa, [jc]))
            cols.append(builder.fmul(builder.fsub(x, _splat(builder, m, vec)),
                                     _splat(builder, sc, vec)))

        def mask(values):
            return ir.Constant(ir.VectorType(i32, 4), values)

        lo01 = builder.shuffle_vector(cols[0], cols[1], mask([0, 4, 1, 5]))
        hi01 = builder.shuffle_vector(cols[0], cols[1], mask([2, 6, 3, 7]))
        lo23 = builder.shuffle_vector(cols[2], cols[3], mask([0, 4, 1, 5]))
        hi23 = builder.shuffle_vector(cols[2], cols[3], mask([2, 6, 3, 7]))
        rows = [builder.shuffle_vector(lo01, lo23, mask([0, 1, 4, 5])),
                builder.shuffle_vector(lo01, lo23, mask([2, 3, 6, 7])),
                builder.shuffle_vector(hi01, hi23, mask([0, 1, 4, 5])),
                builder.shuffle_vector(hi01, hi23, mask([2, 3, 6, 7]))]
        for a in range(4):
            ptr = _item(context, builder, tty, ta, [builder.add(r, intp(a)), j])
            builder.store(rows[a], builder.bitcast(ptr, vec.as_pointer()), align=8)
        return context.get_dummy_value()

    return types.void(X, i, j, tile, r, mean, inv_scale), codegen


@intrinsic
def _accumulate8(typingctx, acc, tile, coef, lo, hi, j):
    """``acc[j + c] += coef[q] * tile[q, j + c]`` for ``c < 8``, ``q`` from ``lo`` to
    ``hi - 1`` in order: the eight sums held in two ``<4 x double>`` registers for
    the whole run of rows instead of a load and a store of each per row (each sum
    is the scalar one, in the same order: the same numbers)."""
    if not (_float64_arrays(acc, coef) and _is_tile(tile)):
        return None

    def codegen(context, builder, signature, args):
        aty, tty, cty = signature.args[:3]
        aa, ta, ca, lo, hi, j = _arguments(context, builder, signature, args)
        intp = context.get_value_type(types.intp)
        vec = ir.VectorType(ir.DoubleType(), 4)
        i32 = ir.IntType(32)
        columns = [_item(context, builder, aty, aa, [builder.add(j, intp(k))]) for k in range(8)]
        sums = []
        for half in range(2):  # element by element: the accumulator may be strided
            value = ir.Constant(vec, ir.Undefined)
            for k in range(4):
                value = builder.insert_element(value, builder.load(columns[4 * half + k]),
                                               i32(k))
            sums.append(cgutils.alloca_once_value(builder, value))
        with cgutils.for_range(builder, builder.sub(hi, lo)) as loop:
            q = builder.add(lo, loop.index)
            g = _splat(builder, builder.load(_item(context, builder, cty, ca, [q])), vec)
            row = builder.bitcast(_item(context, builder, tty, ta, [q, j]),
                                  ir.DoubleType().as_pointer())
            for half in range(2):
                x = _vector_at(builder, row, intp(4 * half), vec)
                builder.store(builder.fadd(builder.load(sums[half]), builder.fmul(g, x)),
                              sums[half])
        for half in range(2):
            total = builder.load(sums[half])
            for k in range(4):
                builder.store(builder.extract_element(total, i32(k)), columns[4 * half + k])
        return context.get_dummy_value()

    return types.void(acc, tile, coef, lo, hi, j), codegen


@intrinsic
def _pointer(typingctx, address, like):
    """The integer ``address`` as a pointer to ``like``'s element type."""
    if not (isinstance(address, types.Integer) and isinstance(like, types.Array)):
        return None
    ptrty = types.CPointer(like.dtype)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(ptrty))

    return ptrty(address, like), codegen

