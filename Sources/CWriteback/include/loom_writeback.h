#ifndef LOOM_WRITEBACK_H
#define LOOM_WRITEBACK_H

#include <stdint.h>

/// Starts writing back the dirty pages of `length` bytes at `offset` of `fd` without waiting for
/// them (Linux `sync_file_range(SYNC_FILE_RANGE_WRITE)`). It makes nothing durable: it only means
/// the `fdatasync` that does finds most of the bytes already on their way. Returns 0, or -1 with
/// errno set; where the call does not exist it returns 0 and does nothing.
int loom_start_writeback(int fd, int64_t offset, int64_t length);

#endif
