/* What every fuzz target in tests/fuzz/ shares: the libFuzzer entry point
 * each one defines, and helpers to split an input into frames and to lay
 * bytes out as files in a scratch directory. */
#ifndef SHOP_TESTS_FUZZ_H
#define SHOP_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* Runs one input; returns 0. A crash, a sanitizer report or an abort() on a
 * broken invariant is a finding. Built with -fsanitize=fuzzer it is called
 * by libFuzzer, in the normal build by tests/fuzz/replay.c. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

/* Aborts with a message when `cond` is false: an invariant of the decoder
 * under test was broken (kept in release builds, unlike assert). */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(__FILE__, __LINE__, #cond);                                                  \
    } while (0)
void fuzz_fail(const char *file, int line, const char *what) __attribute__((noreturn));

/* An input that carries several frames: each is a 2-byte little-endian
 * length and that many bytes (fewer when the input ends first). Returns 0
 * once the input is used up. */
typedef struct fuzz_frames {
    const uint8_t *p;
    size_t left;
} fuzz_frames;
int fuzz_next_frame(fuzz_frames *f, const uint8_t **frame, size_t *len);

/* A scratch directory of this process, made on first use, under /dev/shm
 * when it exists (no disk I/O per input) else under /tmp; `name` tells the
 * targets' directories apart. Emptied by fuzz_dir_clear. */
const char *fuzz_dir(const char *name);
/* Removes every file inside `dir` (flat: the stores make no subfolders). */
void fuzz_dir_clear(const char *dir);
/* Writes `len` bytes as file `dir`/`file`. */
void fuzz_write_file(const char *dir, const char *file, const uint8_t *data, size_t len);

/* The recovery targets' input: a flags byte, then up to three segment files
 * as frames, written as <dir>/0000000001<suffix>, ...; empty ones skipped.
 * Both stores frame records as u32 length | u32 CRC32C | payload: flag bit
 * 0 rewrites every framed record's CRC to match its payload, so that the
 * fuzzer gets past the checksum to the record decoders. Returns the frames
 * after the third segment. */
fuzz_frames fuzz_write_segments(const char *dir, const char *suffix, const uint8_t *data,
                                size_t len);

/* Quiets the project's event log (recovery warns on every torn record). */
void fuzz_quiet_logs(void);

#endif
