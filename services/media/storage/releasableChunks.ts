/**
 * Request-body memory given back as soon as its bytes are stored, instead of at V8's next full collection.
 *
 * A socket hands a request body on as Buffers of up to 64 KiB, each with its own malloc'd ArrayBuffer (V8
 * "external" memory; checked on Node 24: 844 chunks of a 50 MiB body, no two sharing one). V8 frees
 * stored chunks only in a full collection, which it starts once ~64 MiB of external memory has grown
 * (its external allocation soft limit), so a 1 GB tus PATCH kept 64-100 MB of already-stored chunks alive
 * and the API's RSS grew 113-127 MB (`npm run bench -- --only tus,tus-s3`, 1 Dec 2026). Detaching a
 * stored chunk's ArrayBuffer (`ArrayBuffer.prototype.transfer(0)`, ES2024) frees its memory at once.
 *
 * Detaching empties every view of the buffer, so only chunks marked by the code that made them are
 * freed: never a caller's buffer, and never a view of part of a larger buffer (a pool slice). Buffers a
 * module allocated for itself (PartBuffers' part buffers) are freed the same way (freeOwned).
 */
const releasable = new WeakSet<Uint8Array>();

/** ArrayBuffer.prototype.transfer, ES2024 (Node ≥ 21; typed here because the project's lib is ES2023). */
type Transferable = ArrayBuffer & { transfer?: (newByteLength: number) => ArrayBuffer };

/**
 * Marks `chunk` (a Buffer nothing else holds: a request chunk, or one joined from them) as freed by the
 * store that takes its bytes (releaseStored). A view of part of its ArrayBuffer is not marked. Returns it.
 */
export function handOver<T extends Uint8Array>(chunk: T): T {
  if (isWhole(chunk)) releasable.add(chunk);
  return chunk;
}

/**
 * Frees `chunk`'s memory now when it was handed over (handOver); it reads as empty afterwards. Call it
 * once the chunk's bytes are stored (written, copied, hashed) and nothing will read it again. Any other
 * chunk, and any chunk on a runtime without `transfer` (Node 20), is left to the garbage collector.
 */
export function releaseStored(chunk: Uint8Array): void {
  if (releasable.delete(chunk)) freeOwned(chunk);
}

/**
 * Frees the memory of `buffer`, which its caller alone holds (e.g. a part buffer it allocated), now: it
 * reads as empty afterwards. Does nothing to a view of part of an ArrayBuffer, or on a runtime without
 * `transfer` (Node 20).
 */
export function freeOwned(buffer: Uint8Array): void {
  if (isWhole(buffer)) (buffer.buffer as Transferable).transfer?.(0);
}

/** Whether `view` spans the whole of its (non-shared) ArrayBuffer. */
const isWhole = (view: Uint8Array) => view.buffer instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === view.buffer.byteLength;
