#include "loom_jpeg_region.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

/// TurboJPEG's TJFLAG_LIMITSCANS bound: a progressive file with more scans is refused, since
/// each scan re-reads the whole coefficient buffer (a few KB can otherwise cost minutes).
#define LOOM_MAX_SCANS 500

struct loom_jpeg_region {
  struct jpeg_decompress_struct cinfo;
  struct jpeg_error_mgr errors;
  struct jpeg_progress_mgr progress;
  jmp_buf failure;
  char message[JMSG_LENGTH_MAX + 64];
};

static void fail(j_common_ptr cinfo) {
  loom_jpeg_region *self = (loom_jpeg_region *)cinfo->client_data;
  (*cinfo->err->format_message)(cinfo, self->message);
  longjmp(self->failure, 1);
}

static void emit(j_common_ptr cinfo, int level) {
  // Level -1 is a warning: libjpeg would go on with made-up data (a cut file gets grey rows).
  if (level < 0) fail(cinfo);
}

static void progress(j_common_ptr cinfo) {
  j_decompress_ptr d = (j_decompress_ptr)cinfo;
  if (d->is_decompressor && d->input_scan_number > LOOM_MAX_SCANS) {
    loom_jpeg_region *self = (loom_jpeg_region *)cinfo->client_data;
    snprintf(self->message, sizeof self->message, "progressive JPEG has more than %d scans", LOOM_MAX_SCANS);
    longjmp(self->failure, 1);
  }
}

loom_jpeg_region *loom_jpeg_region_create(void) {
  loom_jpeg_region *self = calloc(1, sizeof *self);
  if (!self) return NULL;
  self->cinfo.err = jpeg_std_error(&self->errors);
  self->errors.error_exit = fail;
  self->errors.emit_message = emit;
  self->cinfo.client_data = self;
  if (setjmp(self->failure)) {
    free(self);
    return NULL;
  }
  jpeg_create_decompress(&self->cinfo);
  self->progress.progress_monitor = progress;
  self->cinfo.progress = &self->progress;
  return self;
}

void loom_jpeg_region_destroy(loom_jpeg_region *self) {
  if (!self) return;
  jpeg_destroy_decompress(&self->cinfo);
  free(self);
}

const char *loom_jpeg_region_message(const loom_jpeg_region *self) { return self->message; }

static int refuse(loom_jpeg_region *self, int status, const char *message) {
  snprintf(self->message, sizeof self->message, "%s", message);
  jpeg_abort_decompress(&self->cinfo);
  return status;
}

int loom_jpeg_region_decode(loom_jpeg_region *self, const unsigned char *data, size_t size,
                            int scale_num, int scale_denom, int left, int top, int width, int height,
                            unsigned char *destination, size_t capacity, int *decoded_left, int *decoded_width) {
  j_decompress_ptr cinfo = &self->cinfo;
  self->message[0] = '\0';
  if (setjmp(self->failure)) {
    jpeg_abort_decompress(cinfo);
    return LOOM_JPEG_REGION_CORRUPT;
  }
  jpeg_mem_src(cinfo, data, (unsigned long)size);
  jpeg_read_header(cinfo, TRUE);
  if (cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK)
    return refuse(self, LOOM_JPEG_REGION_CMYK, "CMYK JPEG: decode it whole");
  cinfo->scale_num = (unsigned int)scale_num;
  cinfo->scale_denom = (unsigned int)scale_denom;
  cinfo->out_color_space = JCS_RGB;
  jpeg_calc_output_dimensions(cinfo);
  if (left < 0 || top < 0 || width <= 0 || height <= 0 || (JDIMENSION)left + (JDIMENSION)width > cinfo->output_width ||
      (JDIMENSION)top + (JDIMENSION)height > cinfo->output_height)
    return refuse(self, LOOM_JPEG_REGION_BAD_REQUEST, "region outside the scaled image");
  jpeg_start_decompress(cinfo);
  JDIMENSION x = (JDIMENSION)left, w = (JDIMENSION)width;
  if (x != 0 || w != cinfo->output_width) jpeg_crop_scanline(cinfo, &x, &w);
  size_t stride = (size_t)w * 3;
  if (stride * (size_t)height > capacity)
    return refuse(self, LOOM_JPEG_REGION_BAD_REQUEST, "destination too small for the region");
  if (top > 0 && jpeg_skip_scanlines(cinfo, (JDIMENSION)top) != (JDIMENSION)top)
    return refuse(self, LOOM_JPEG_REGION_CORRUPT, "JPEG ended before the region");
  JDIMENSION end = (JDIMENSION)(top + height);
  while (cinfo->output_scanline < end) {
    JSAMPROW rows[16];
    JDIMENSION count = end - cinfo->output_scanline;
    if (count > 16) count = 16;
    for (JDIMENSION i = 0; i < count; i++) rows[i] = destination + (size_t)(cinfo->output_scanline - top + i) * stride;
    if (jpeg_read_scanlines(cinfo, rows, count) == 0)
      return refuse(self, LOOM_JPEG_REGION_CORRUPT, "JPEG ended inside the region");
  }
  // The rows below the region are never decoded: the scan was validated at ingest, and the
  // loader only needs these pixels.
  jpeg_abort_decompress(cinfo);
  *decoded_left = (int)x;
  *decoded_width = (int)w;
  return LOOM_JPEG_REGION_OK;
}
