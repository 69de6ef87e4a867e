/**
 * A symmetric linear operator on device vectors: all the curvature algorithms take one of these,
 * never a model (curvlinops' habit). An implementation gives only its size and its product.
 *
 * Vectors are f32 tensors on `backend` with `size` elements; their shape may be [size] or
 * [1, size] (the algorithms use [1, size] rows internally), and `matvec` returns a new tensor of
 * the same shape that the caller frees.
 */
import type { Backend, Tensor } from '../backends/backend.js';
import { fail } from '../errors.js';

export interface LinearOperator {
  /** Dimension n of the (n × n) operator. */
  readonly size: number;
  /** Always true: every algorithm here assumes a self-adjoint operator. */
  readonly symmetric: true;
  readonly dtype: 'f32';
  readonly backend: Backend;
  /** For reports: "hessian", "ggn", "hessian[layer 2]", "dense", … */
  readonly name?: string;
  /** A·v as a new tensor of v's shape (the caller frees it). */
  matvec(v: Tensor): Tensor;
  /**
   * Optional: A·v without blocking the event loop while it computes (a model's curvature on the
   * native backend runs off the main thread). The algorithms here call `applyOperator`, which
   * prefers it.
   */
  matvecAsync?(v: Tensor): Promise<Tensor>;
}

/** A·v through matvecAsync when the operator has it, else matvec: what every algorithm here calls. */
export async function applyOperator(op: LinearOperator, v: Tensor): Promise<Tensor> {
  return op.matvecAsync ? op.matvecAsync(v) : op.matvec(v);
}

/** Throws a clear error when v cannot be multiplied by op. */
export function checkVector(op: LinearOperator, v: Tensor, field = 'vector'): void {
  if (v.backend !== op.backend.name || v.dtype !== 'f32') {
    fail('E_ARG', `vector must be an f32 tensor on the ${op.backend.name} backend, got ${v.backend}/${v.dtype}`, { field });
  }
  if (v.size !== op.size) fail('E_SHAPE', `vector has ${v.size} elements; expected ${op.size}${op.name ? ` (operator ${op.name})` : ''}`, { field });
}

/**
 * A user-supplied operator from a product function (which must be symmetric: ⟨u, A v⟩ = ⟨A u, v⟩).
 * `fn` receives a vector of `size` elements and returns a new tensor of the same shape.
 */
export function functionOperator(backend: Backend, size: number, fn: (v: Tensor) => Tensor, name = 'user'): LinearOperator {
  if (!Number.isSafeInteger(size) || size < 1) fail('E_ARG', `operator size must be a positive integer, got ${size}`, { field: 'size' });
  const op: LinearOperator = {
    size,
    symmetric: true,
    dtype: 'f32',
    backend,
    name,
    matvec(v: Tensor): Tensor {
      checkVector(op, v);
      return fn(v);
    },
  };
  return op;
}

/**
 * The operator of a dense symmetric n × n matrix (row-major; float64 input is rounded to f32 on the
 * device). Small problems, tests and users who already hold a matrix.
 */
export function denseOperator(backend: Backend, matrix: ArrayLike<number>, n: number, name = 'dense'): LinearOperator & { dispose(): void } {
  if (!Number.isSafeInteger(n) || n < 1) fail('E_ARG', `matrix order must be a positive integer, got ${n}`, { field: 'n' });
  if (matrix.length !== n * n) fail('E_SHAPE', `matrix has ${matrix.length} values; expected ${n}×${n} = ${n * n}`, { field: 'matrix' });
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) {
      const a = matrix[i * n + j]!;
      const c = matrix[j * n + i]!;
      if (Math.abs(a - c) > 1e-6 * Math.max(1, Math.abs(a), Math.abs(c))) {
        fail('E_VALUE', `matrix is not symmetric: [${i}][${j}] = ${a} but [${j}][${i}] = ${c}`, { field: 'matrix' });
      }
    }
  }
  const a = backend.upload(Float32Array.from(matrix as ArrayLike<number>), [n, n]);
  const op = {
    size: n,
    symmetric: true as const,
    dtype: 'f32' as const,
    backend,
    name,
    matvec(v: Tensor): Tensor {
      checkVector(op, v);
      // A symmetric: v·Aᵀ = (A v)ᵀ, computed as a [1, n] row.
      const row = v.shape.length === 2 && v.shape[0] === 1 ? v : backend.slice(v, 0, [1, n]);
      const prod = backend.matmul(row, a, false, true);
      if (row !== v) backend.free(row);
      if (v.shape.length === 2 && v.shape[0] === 1) return prod;
      const out = backend.slice(prod, 0, v.shape);
      backend.free(prod);
      return out;
    },
    dispose(): void {
      backend.free(a);
    },
  };
  return op;
}

/**
 * Wraps op so that every product is counted (`count`), e.g. to compare algorithms' HVP budgets;
 * `onProduct` runs after each product (a progress bar).
 */
export function countingOperator(op: LinearOperator, onProduct?: () => void): LinearOperator & { count: number } {
  const wrapped = {
    size: op.size,
    symmetric: true as const,
    dtype: 'f32' as const,
    backend: op.backend,
    name: op.name,
    count: 0,
    matvec(v: Tensor): Tensor {
      const out = op.matvec(v);
      wrapped.count++;
      onProduct?.();
      return out;
    },
    ...(op.matvecAsync && {
      async matvecAsync(v: Tensor): Promise<Tensor> {
        const out = await op.matvecAsync!(v);
        wrapped.count++;
        onProduct?.();
        return out;
      },
    }),
  };
  return wrapped;
}
