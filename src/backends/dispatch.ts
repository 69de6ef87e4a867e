/**
 * Backends as executors of the op registry (ops.ts).
 *
 * `KernelBackend` gives every registered op a Backend method that maps the positional call to
 * named arguments, checks each tensor argument (this backend's, not freed, dtype, rank) and runs
 * the op's `check`, then calls the backend's kernel with the checked arguments and the plan. A
 * backend therefore supplies only memory management and a kernel table; it never validates a
 * kernel's arguments itself, so the same misuse fails with the same code on every backend.
 */
import { fail } from '../errors.js';
import type { Backend, BackendInfo, BackendName, Tensor } from './backend.js';
import { OPS, OP_NAMES, type OpArgs, type OpName, type OpPlan, type OpSpec, type OutputDecl, type TensorParam } from './ops.js';

type Method<K extends OpName> = NonNullable<Backend[K]>;
/** A backend's implementation of op K: checked arguments and the plan in, the method's result out. */
export type Kernel<K extends OpName> = (args: OpArgs<K>, plan: OpPlan<K>) => ReturnType<Method<K>>;

type OptionalOp = { [K in OpName]: (typeof OPS)[K] extends { optional: true } ? K : never }[OpName];
type GenericOp = { [K in OpName]: (typeof OPS)[K] extends { generic: true } ? K : never }[OpName];
type RequiredOp = Exclude<OpName, OptionalOp>;
/**
 * Every required op, and whichever optional ops the backend offers. Ops marked generic may be
 * left to the backend's `genericKernel` (native, webgpu); js implements them all.
 */
export type KernelTable = { [K in Exclude<RequiredOp, GenericOp>]: Kernel<K> } & { [K in OptionalOp | GenericOp]?: Kernel<K> };

/** What a generic executor receives: the spec, checked arguments, the plan and the declared outputs. */
export interface GenericCall {
  op: OpName;
  spec: OpSpec<Record<string, unknown>, unknown>;
  args: Record<string, unknown>;
  plan: Record<string, unknown>;
  /** Tensor parameters in declaration order, with their names. */
  tensors: [string, Tensor][];
  outputs: readonly OutputDecl[];
  /** The numbers (and booleans as 0/1) of the call and the plan, flattened one level: a generic kernel's scalars. */
  scalars: Record<string, number>;
}

/** The numbers of a call and its plan, one level of objects flattened (h.lr → lr), booleans as 0/1. */
function scalarsOf(...sources: Record<string, unknown>[]): Record<string, number> {
  const out: Record<string, number> = {};
  const put = (k: string, v: unknown) => {
    if (typeof v === 'number') out[k] = v;
    else if (typeof v === 'boolean') out[k] = v ? 1 : 0;
  };
  for (const src of sources) {
    for (const [k, v] of Object.entries(src)) {
      if (typeof v === 'object' && v !== null && !ArrayBuffer.isView(v) && !Array.isArray(v) && !('dtype' in v)) {
        for (const [k2, v2] of Object.entries(v)) put(k2, v2);
      } else put(k, v);
    }
  }
  return out;
}

/** What a backend says about a value passed where one of its tensors is expected. */
export type TensorState = 'live' | 'freed' | 'foreign';

export abstract class KernelBackend {
  abstract readonly name: BackendName;
  abstract info(): BackendInfo;
  /** The kernels; built once per instance by the subclass. */
  protected abstract readonly kernels: KernelTable;
  /** Whether `t` is a live tensor of this backend instance. */
  protected abstract tensorState(t: Tensor): TensorState;
  /** Runs an op marked generic that the kernel table leaves out; returns its outputs (see OpSpec.outputs). */
  protected genericKernel?(call: GenericCall): Tensor[];

  /** Validates a call through the registry and runs this backend's kernel. */
  protected run<K extends OpName>(op: K, positional: readonly unknown[]): ReturnType<Method<K>> {
    const spec = OPS[op] as unknown as OpSpec<Record<string, unknown>, unknown>;
    if (spec.async) {
      // An async op reports bad arguments as a rejected promise, never a synchronous throw.
      try {
        return this.#validateAndRun(op, spec, positional);
      } catch (e) {
        return Promise.reject(e) as ReturnType<Method<K>>;
      }
    }
    return this.#validateAndRun(op, spec, positional);
  }

  #validateAndRun<K extends OpName>(op: K, spec: OpSpec<Record<string, unknown>, unknown>, positional: readonly unknown[]): ReturnType<Method<K>> {
    const args: Record<string, unknown> = {};
    spec.params.forEach((p, i) => {
      args[p] = positional[i] === undefined ? spec.defaults?.[p] : positional[i];
    });
    for (const [p, want] of Object.entries(spec.tensors) as [string, TensorParam][]) {
      this.checkTensor(args[p], want, `${op} ${p}`);
    }
    for (const [t, want, what] of spec.nested?.(args) ?? []) this.checkTensor(t, want, `${op} ${what}`);
    const plan = spec.check(args);
    const kernel = (this.kernels as Record<string, Kernel<K> | undefined>)[op];
    if (kernel) return kernel(args as OpArgs<K>, plan as OpPlan<K>);
    if (spec.generic && this.genericKernel) {
      const outputs = spec.outputs!(plan, args);
      const tensors = Object.keys(spec.tensors).filter((p) => args[p] !== undefined).map((p) => [p, args[p] as Tensor] as [string, Tensor]);
      const out = this.genericKernel({ op, spec, args, plan: plan as Record<string, unknown>, tensors, outputs, scalars: scalarsOf(args, plan as Record<string, unknown>) });
      // No outputs: in place (void); one: the tensor; several: by name ({ loss, grad }).
      if (outputs.length === 0) return undefined as ReturnType<Method<K>>;
      if (outputs.length === 1) return out[0] as ReturnType<Method<K>>;
      return Object.fromEntries(outputs.map((o, i) => [o.name, out[i]])) as ReturnType<Method<K>>;
    }
    fail('E_BACKEND', `${op} is not implemented by the ${this.name} backend`);
  }

  /** Ownership, liveness, dtype and rank of one tensor argument (shared by every op). */
  protected checkTensor(t: unknown, want: TensorParam, what: string): void {
    if (t === undefined && want.optional) return;
    if (typeof t !== 'object' || t === null || !('dtype' in t) || !('shape' in t)) fail('E_ARG', `${what}: expected a tensor, got ${String(t)}`);
    const tensor = t as Tensor;
    const state = this.tensorState(tensor);
    if (state === 'foreign') fail('E_ARG', `${what}: expected a tensor of this ${this.name} backend, got one from ${tensor.backend}`);
    if (state === 'freed') fail('E_ARG', `${what}: the tensor was freed`);
    if (tensor.dtype !== want.dtype) fail('E_DTYPE', `${what}: expected an ${want.dtype} tensor, got ${tensor.dtype}`);
    if (want.rank !== undefined && tensor.shape.length !== want.rank) {
      fail('E_SHAPE', `${what} must be ${want.rank}-D, got [${tensor.shape.join(', ')}]`);
    }
  }
}

// One method per registered op, installed on the prototype: positional call → run(op, args).
// Optional ops are getters, so `backend.op` is undefined where the backend has no kernel for it.
for (const op of OP_NAMES) {
  const spec = OPS[op] as { optional?: boolean };
  if (spec.optional) {
    Object.defineProperty(KernelBackend.prototype, op, {
      configurable: true,
      get(this: KernelBackend) {
        const kernels = (this as unknown as { kernels: Record<string, unknown> }).kernels;
        if (!kernels[op]) return undefined;
        return (...a: unknown[]) => this['run'](op, a);
      },
      // Assigning an own function (a test wrapping the kernel to count calls) shadows the getter.
      set(this: KernelBackend, fn: unknown) {
        Object.defineProperty(this, op, { value: fn, writable: true, configurable: true, enumerable: true });
      },
    });
  } else {
    Object.defineProperty(KernelBackend.prototype, op, {
      configurable: true,
      writable: true,
      value(this: KernelBackend, ...a: unknown[]) {
        return this['run'](op, a);
      },
    });
  }
}

// The op methods exist at run time (above); this makes them visible to the type checker.
type OpMethods = { [K in RequiredOp]: Method<K> } & { readonly [K in OptionalOp]?: Method<K> };
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface KernelBackend extends OpMethods {}
