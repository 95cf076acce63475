#ifndef LOOM_CRC32_H
#define LOOM_CRC32_H

#include <stddef.h>
#include <stdint.h>

/// CRC-32 (IEEE 802.3, reflected, zlib's `crc32`) of `length` bytes, continuing from `crc`
/// (0 to start, or a previous result: the same chaining zlib's `crc32` has). On x86-64 CPUs with
/// PCLMULQDQ the bulk is folded 64 bytes a step with carry-less multiplies; everything else, and
/// every other CPU, goes through zlib.
uint32_t loom_crc32(uint32_t crc, const uint8_t *bytes, size_t length);

/// 1 where loom_crc32 folds with PCLMULQDQ on this CPU, 0 where it is zlib throughout.
int loom_crc32_is_folded(void);

#endif
