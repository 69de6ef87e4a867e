/**
 * The one error type riverbed throws for bad input or an unusable environment.
 *
 * `code` is stable and machine-readable; `message` is one line that names the
 * file and field at fault and what was expected, so the CLI can print it as is.
 */
export type ErrorCode =
  | 'E_FILE' // missing / unreadable file
  | 'E_FORMAT' // file exists but is malformed (bad magic, bad header, truncated)
  | 'E_DTYPE' // unsupported element type
  | 'E_SHAPE' // shapes or lengths disagree
  | 'E_VALUE' // NaN/Inf or out-of-range values
  | 'E_LABEL' // labels negative, non-integer or out of range
  | 'E_ARG' // a parameter (K, F, epochs, …) out of range
  | 'E_MODEL' // model description / weights do not match
  | 'E_BACKEND' // requested backend unavailable, or it failed (GPU validation error, device lost)
  | 'E_MEMORY' // the device or host is out of memory for the request
  | 'E_INTERNAL';

export interface ErrorContext {
  file?: string;
  field?: string;
}

export class RiverbedError extends Error {
  readonly code: ErrorCode;
  readonly file?: string;
  readonly field?: string;

  constructor(code: ErrorCode, message: string, context: ErrorContext = {}) {
    const where = [context.file, context.field].filter(Boolean).join(': ');
    super(where ? `${where}: ${message}` : message);
    this.name = 'RiverbedError';
    this.code = code;
    this.file = context.file;
    this.field = context.field;
  }
}

export function fail(code: ErrorCode, message: string, context?: ErrorContext): never {
  throw new RiverbedError(code, message, context);
}
