// Keeps glibc from handing the relay's body buffers back to the kernel between socket reads. Node copies every
// request body chunk (up to 64 KiB) into a fresh malloc'd buffer, and V8 frees them in batches when it collects
// them; with glibc's default 128 KiB trim threshold each batch shrinks the heap and the next chunks fault it back in.

// glibc's ceiling for its dynamic mmap threshold on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX): freeing a chunk that was
// mmapped and is larger than the current threshold, but no larger than this, raises the mmap threshold to its size
// and the trim threshold to twice that. Stay a page-rounded margin under it.
const LARGEST_DYNAMIC_THRESHOLD = 32 * 2 ** 20 - 2 ** 16;

/**
 * Raise glibc's trim threshold to about 64 MiB for the rest of the process, the in-process equivalent of starting
 * it with `MALLOC_TRIM_THRESHOLD_`: one large buffer is allocated (mmapped, never touched, so it costs no RSS) and
 * dropped; glibc adjusts its thresholds when the next garbage collection frees it. Measured on a 2 GiB relay
 * transfer: 250,000–340,000 minor page faults and about 7,000 `brk` calls without it, 10,000–35,000 and about 300
 * with it, and a second less of system time. Other allocators ignore it at no cost.
 */
export function keepMallocHeap(): void {
  Buffer.allocUnsafeSlow(LARGEST_DYNAMIC_THRESHOLD);
}
